// A JavaScript worker process for the scale-out test (e2e_test.go):
// node lib/worker.js ADDRESS NAME. It runs lib/app.js's orchestrations and
// activities, prints "ran ACTIVITY INSTANCE TASK" for each activity run,
// and stops on SIGTERM.
"use strict";

const { TaskHubGrpcWorker } = require("@microsoft/durabletask-js");
const { register } = require("./app");

const [address, name] = process.argv.slice(2);
const logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const worker = new TaskHubGrpcWorker({ hostAddress: address, logger });
register(worker, (activity, ctx) => console.log(`ran ${activity} ${ctx.orchestrationId} ${ctx.taskId}`));

process.on("SIGTERM", async () => {
  await worker.stop();
  process.exit(0);
});

worker.start().then(() => console.log(`worker ${name} started`));
