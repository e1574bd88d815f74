// The Durable Task JavaScript SDK's worker and client against `azdurable
// sidecar` on a task hub with no Go worker: every orchestration and
// activity runs in this process's TaskHubGrpcWorker (lib/app.js). The Go
// driver (e2e_test.go) starts Azurite and the sidecar and passes
// SIDECAR_WORKER_ADDRESS and SIDECAR_RUN_ID.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const {
  TaskHubGrpcClient,
  TaskHubGrpcWorker,
  OrchestrationStatus,
  HistoryEventType,
  terminateOptions,
  EntityInstanceId,
} = require("@microsoft/durabletask-js");
const { register } = require("../lib/app");

const address = process.env.SIDECAR_WORKER_ADDRESS;
const run = process.env.SIDECAR_RUN_ID || String(Date.now());
if (!address) {
  throw new Error("SIDECAR_WORKER_ADDRESS is not set: run the suite with make sidecar-test");
}

const logger = {
  error: (...a) => console.error(...a),
  warn: (...a) => console.warn(...a),
  info: () => {},
  debug: () => {},
};

const client = new TaskHubGrpcClient({ hostAddress: address, logger });
const worker = new TaskHubGrpcWorker({ hostAddress: address, logger });
register(worker);
test.before(() => worker.start());
test.after(async () => {
  await worker.stop();
  await client.stop();
});

// Generous: the machine may be busy, and Azurite is slower than a real account.
const timeoutSeconds = 180;
const id = (name) => `${run}-w-${name}`;

async function waitFor(instanceId, what, cond) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const st = await client.getOrchestrationState(instanceId, true);
    if (st && cond(st)) return st;
    if (Date.now() > deadline) {
      throw new Error(`${instanceId}: timed out waiting for ${what} (last: ${JSON.stringify(st)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const completed = (instanceId) => client.waitForOrchestrationCompletion(instanceId, true, timeoutSeconds);

async function start(name, input, key) {
  return client.scheduleNewOrchestration(name, input, id(key));
}

async function finishesWith(instanceId, output) {
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.COMPLETED, JSON.stringify(st));
  assert.deepEqual(JSON.parse(st.serializedOutput), output);
  return st;
}

const types = (history) => history.map((e) => e.type);

test("hello cities: the history is the C# one", async () => {
  const instanceId = await start("HelloCities", undefined, "hello");
  await finishesWith(instanceId, ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
  const history = await client.getOrchestrationHistory(instanceId);
  const t = types(history);
  assert.equal(t.filter((x) => x === HistoryEventType.TaskScheduled).length, 3);
  assert.equal(t.filter((x) => x === HistoryEventType.TaskCompleted).length, 3);
  assert.equal(t.filter((x) => x === HistoryEventType.ExecutionCompleted).length, 1);
  assert.equal(t[0] === HistoryEventType.ExecutionStarted || t[1] === HistoryEventType.ExecutionStarted, true);
});

test("chains, several at once", async () => {
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(await start("Chain", { start: i * 100, n: 10 }, `chain-${i}`));
  for (let i = 0; i < 5; i++) await finishesWith(ids[i], i * 100 + 10);
});

test("fan-out/fan-in of 100", async () => {
  const instanceId = await start("FanOut", 100, "fan");
  let sum = 0;
  for (let i = 1; i <= 100; i++) sum += i * i;
  await finishesWith(instanceId, sum);
  const t = types(await client.getOrchestrationHistory(instanceId));
  assert.equal(t.filter((x) => x === HistoryEventType.TaskCompleted).length, 100);
});

test("timers", async () => {
  const instanceId = await start("Sleep", 2, "timer");
  await finishesWith(instanceId, "woke");
  const history = await client.getOrchestrationHistory(instanceId);
  const created = history.find((e) => e.type === HistoryEventType.TimerCreated);
  const fired = history.find((e) => e.type === HistoryEventType.TimerFired);
  assert.ok(created && fired, types(history).join(" "));
  assert.equal(fired.timerId, created.eventId);
  assert.equal(fired.fireAt.getTime(), created.fireAt.getTime());
});

test("external events with timeouts", async () => {
  const approved = await start("Approval", 600, "approved");
  const timedOut = await start("Approval", 2, "timeout");
  await client.waitForOrchestrationStart(approved, false, timeoutSeconds);
  await client.raiseOrchestrationEvent(approved, "approve", "ana");
  await finishesWith(approved, "approved by ana");
  await finishesWith(timedOut, "timed out");
});

test("sub-orchestrations", async () => {
  const instanceId = await start("Parent", 3, "parent");
  await finishesWith(instanceId, 0 + 2 + 10 + 2 + 20 + 2);
  const child = await client.getOrchestrationState(`${instanceId}-1`, true);
  assert.equal(child.runtimeStatus, OrchestrationStatus.COMPLETED);
  assert.equal(JSON.parse(child.serializedOutput), 12);
});

test("continue-as-new", async () => {
  const instanceId = await start("Counter", 0, "counter");
  await finishesWith(instanceId, 5);
  const t = types(await client.getOrchestrationHistory(instanceId));
  // The last generation only: started with 5, completed at once.
  assert.equal(t.filter((x) => x === HistoryEventType.ExecutionStarted).length, 1);
});

test("retries", async () => {
  const instanceId = await start("Retry", { key: id("retry"), times: 2 }, "retry");
  await finishesWith(instanceId, `ok ${id("retry")}`);
  const t = types(await client.getOrchestrationHistory(instanceId));
  assert.equal(t.filter((x) => x === HistoryEventType.TaskFailed).length, 2);
  assert.equal(t.filter((x) => x === HistoryEventType.TimerFired).length, 2);
});

test("custom status", async () => {
  const instanceId = await start("Stages", undefined, "stages");
  let st = await waitFor(instanceId, "stage 1", (s) => s.serializedCustomStatus === JSON.stringify({ stage: 1 }));
  await client.raiseOrchestrationEvent(instanceId, "next", 1);
  st = await waitFor(instanceId, "stage 2", (s) => s.serializedCustomStatus === JSON.stringify({ stage: 2 }));
  await client.raiseOrchestrationEvent(instanceId, "next", "two");
  st = await finishesWith(instanceId, "staged");
  assert.deepEqual(JSON.parse(st.serializedCustomStatus), { stage: 3, last: "two" });
});

test("suspend and resume", async () => {
  const instanceId = await start("WaitGo", undefined, "suspend");
  await client.waitForOrchestrationStart(instanceId, false, timeoutSeconds);
  await client.suspendOrchestration(instanceId);
  await waitFor(instanceId, "suspended", (s) => s.runtimeStatus === OrchestrationStatus.SUSPENDED);
  await client.raiseOrchestrationEvent(instanceId, "go", "while suspended");
  // The event waits for the resume: the instance stays suspended.
  const history = await client.getOrchestrationHistory(instanceId);
  assert.ok(types(history).includes(HistoryEventType.ExecutionSuspended));
  assert.equal((await client.getOrchestrationState(instanceId)).runtimeStatus, OrchestrationStatus.SUSPENDED);
  await client.resumeOrchestration(instanceId);
  await finishesWith(instanceId, "while suspended");
});

test("terminate, recursive", async () => {
  const parentId = await start("ParentOfForever", undefined, "terminate");
  const childId = `${parentId}-child`;
  await waitFor(childId, "the child to run", (s) => s.runtimeStatus === OrchestrationStatus.RUNNING);
  await client.terminateOrchestration(parentId, terminateOptions({ output: "stop", recursive: true }));
  const parent = await completed(parentId);
  assert.equal(parent.runtimeStatus, OrchestrationStatus.TERMINATED);
  assert.equal(JSON.parse(parent.serializedOutput), "stop");
  const child = await completed(childId);
  assert.equal(child.runtimeStatus, OrchestrationStatus.TERMINATED);
});

test("purge", async () => {
  const instanceId = await start("Chain", { start: 0, n: 1 }, "purge");
  await finishesWith(instanceId, 1);
  assert.equal((await client.purgeOrchestration(instanceId)).deletedInstanceCount, 1);
  assert.equal(await client.getOrchestrationState(instanceId), undefined);
  assert.deepEqual(await client.getOrchestrationHistory(instanceId), []);
});

test("query with paging", async () => {
  const prefix = id("query-");
  for (let i = 0; i < 5; i++) await finishesWith(await client.scheduleNewOrchestration("Chain", { start: i, n: 1 }, `${prefix}${i}`), i + 1);
  const seen = [];
  let pages = 0;
  for await (const page of client.getAllInstances({ instanceIdPrefix: prefix, fetchInputsAndOutputs: true }).asPages(undefined, 2)) {
    pages++;
    assert.ok(page.values.length <= 2);
    for (const s of page.values) seen.push(s.instanceId);
  }
  assert.equal(seen.length, 5);
  assert.equal(new Set(seen).size, 5);
  assert.ok(pages >= 3, `${pages} pages`);
});

test("restart", async () => {
  const instanceId = await start("Chain", { start: 7, n: 2 }, "restart");
  const first = await finishesWith(instanceId, 9);
  assert.equal(await client.restartOrchestration(instanceId), instanceId);
  // A new execution under the same id: created later, completed again.
  const again = await waitFor(instanceId, "the restarted run to complete", (s) =>
    s.createdAt > first.createdAt && s.runtimeStatus === OrchestrationStatus.COMPLETED);
  assert.equal(JSON.parse(again.serializedOutput), 9);
  const newId = await client.restartOrchestration(instanceId, true);
  assert.notEqual(newId, instanceId);
  await finishesWith(newId, 9);
});

test("rewind", async () => {
  const instanceId = await start("Fragile", { key: id("rewind"), times: 1 }, "rewind");
  const failed = await completed(instanceId);
  assert.equal(failed.runtimeStatus, OrchestrationStatus.FAILED);
  assert.match(failed.failureDetails.message, /flaky/);
  await client.rewindInstance(instanceId, "try again");
  await waitFor(instanceId, "the rewound run to complete", (s) => s.runtimeStatus === OrchestrationStatus.COMPLETED);
  await finishesWith(instanceId, `2 ok ${id("rewind")}`);
});

test("entities: a client's signals, an orchestration's signal, call and lock, read back", async () => {
  const key = id("counter");
  const counter = new EntityInstanceId("Counter", key);
  assert.equal(await client.getEntity(counter), undefined);
  await client.signalEntity(counter, "add", 3);
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const m = await client.getEntity(counter);
    if (m && m.state === 3) break;
    if (Date.now() > deadline) throw new Error(`timed out waiting for the signal (last: ${JSON.stringify(m)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const instanceId = await start("UseCounter", key, "use-counter");
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.COMPLETED, JSON.stringify(st));
  assert.equal(st.serializedOutput, "10");
  const m = await client.getEntity(counter);
  assert.equal(m.state, 10);
  assert.equal(m.lockedBy, undefined);
  assert.equal(m.backlogQueueSize, 0);
  const found = [];
  for await (const e of client.getEntities({ instanceIdStartsWith: `@counter@${key}`, includeState: true })) {
    found.push(`${e.id.toString()}=${e.state}`);
  }
  assert.deepEqual(found, [`@counter@${key}=10`]);
  const cleaned = await client.cleanEntityStorage();
  assert.equal(cleaned.emptyEntitiesRemoved, 0);
});
