// The JavaScript side of `azdurable bench sidecar`: a TaskHubGrpcWorker and
// a TaskHubGrpcClient in this process against the sidecar at ADDRESS run
// the bench scenarios with the names, inputs and outputs of the Go and C#
// ones (internal/bench): chain (COUNT instances of LENGTH SayHello calls
// one after another) or fanout (one instance of COUNT SayHello calls at
// once). Prints one JSON line: {"seconds", "orchestrations", "activities"}.
//
//   node bench/bench.js ADDRESS chain|fanout COUNT LENGTH
"use strict";

const { TaskHubGrpcClient, TaskHubGrpcWorker, OrchestrationStatus, whenAll } = require("@microsoft/durabletask-js");

const [address, scenario, countArg, lengthArg] = process.argv.slice(2);
const count = Number(countArg);
const length = Number(lengthArg);
const logger = { error: (...a) => console.error(...a), warn: () => {}, info: () => {}, debug: () => {} };

async function main() {
  const worker = new TaskHubGrpcWorker({ hostAddress: address, logger });
  worker.addNamedActivity("SayHello", (_ctx, name) => `Hello ${name}!`);
  worker.addNamedOrchestrator("Chain", async function* (ctx, n) {
    let last = "";
    for (let i = 0; i < n; i++) last = yield ctx.callActivity("SayHello", `c${i}`);
    return last;
  });
  worker.addNamedOrchestrator("FanOut", async function* (ctx, n) {
    const tasks = [];
    for (let i = 0; i < n; i++) tasks.push(ctx.callActivity("SayHello", `n${i}`));
    return (yield whenAll(tasks)).length;
  });
  await worker.start();
  const client = new TaskHubGrpcClient({ hostAddress: address, logger });

  const began = Date.now();
  const ids = [];
  let activities = 0;
  if (scenario === "chain") {
    const starts = [];
    for (let i = 0; i < count; i++) starts.push(client.scheduleNewOrchestration("Chain", length));
    ids.push(...(await Promise.all(starts)));
    activities = count * length;
  } else if (scenario === "fanout") {
    ids.push(await client.scheduleNewOrchestration("FanOut", count));
    activities = count;
  } else {
    throw new Error(`unknown scenario ${scenario}`);
  }
  for (const id of ids) {
    const st = await client.waitForOrchestrationCompletion(id, false, 600);
    if (!st || st.runtimeStatus !== OrchestrationStatus.COMPLETED) throw new Error(`${id}: ${JSON.stringify(st)}`);
  }
  const seconds = (Date.now() - began) / 1000;
  await client.stop();
  await worker.stop();
  console.log(JSON.stringify({ seconds, orchestrations: ids.length, activities }));
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
