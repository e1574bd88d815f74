// The scale-out test's driver (e2e_test.go): starts COUNT instances of
// Steps(STEPS) through the sidecar at SIDECAR_ADDRESS, prints "started",
// waits for every one and checks that each completed once with the right
// output. Prints "done COUNT instances in SECONDS s" and exits 0, or exits 1
// naming what went wrong.
"use strict";

const { TaskHubGrpcClient, OrchestrationStatus, HistoryEventType } = require("@microsoft/durabletask-js");

const address = process.env.SIDECAR_ADDRESS;
const run = process.env.SIDECAR_RUN_ID || String(Date.now());
const count = Number(process.env.COUNT || 40);
const steps = Number(process.env.STEPS || 10);
const timeoutSeconds = Number(process.env.TIMEOUT_SECONDS || 600);
const logger = { error: (...a) => console.error(...a), warn: () => {}, info: () => {}, debug: () => {} };

async function main() {
  const client = new TaskHubGrpcClient({ hostAddress: address, logger });
  const began = Date.now();
  const ids = [];
  for (let i = 0; i < count; i++) ids.push(await client.scheduleNewOrchestration("Steps", steps, `${run}-scale-${i}`));
  console.log(`started ${count}`);
  const problems = [];
  for (const id of ids) {
    const st = await client.waitForOrchestrationCompletion(id, true, timeoutSeconds);
    if (!st || st.runtimeStatus !== OrchestrationStatus.COMPLETED || JSON.parse(st.serializedOutput) !== steps) {
      problems.push(`${id}: ${JSON.stringify(st)}`);
      continue;
    }
    const history = await client.getOrchestrationHistory(id);
    const completions = history.filter((e) => e.type === HistoryEventType.ExecutionCompleted).length;
    const starts = history.filter((e) => e.type === HistoryEventType.ExecutionStarted).length;
    if (completions !== 1 || starts !== 1) problems.push(`${id}: ${starts} ExecutionStarted, ${completions} ExecutionCompleted`);
  }
  await client.stop();
  if (problems.length > 0) {
    console.error(problems.join("\n"));
    process.exit(1);
  }
  console.log(`done ${count} instances in ${((Date.now() - began) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
