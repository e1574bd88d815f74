// The Durable Task JavaScript SDK's client against `azdurable sidecar`, on a
// task hub whose orchestrations run in a Go worker (`azdurable worker
// --conformance`, which hosts the samples and the conformance set). The Go
// driver (e2e_test.go) starts Azurite, the worker and the sidecar and passes
// SIDECAR_ADDRESS and SIDECAR_RUN_ID.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const {
  TaskHubGrpcClient,
  OrchestrationStatus,
  PurgeInstanceCriteria,
  EntityInstanceId,
  terminateOptions,
} = require("@microsoft/durabletask-js");

const address = process.env.SIDECAR_ADDRESS;
const run = process.env.SIDECAR_RUN_ID || String(Date.now());
if (!address) {
  throw new Error("SIDECAR_ADDRESS is not set: run the suite with make sidecar-test");
}

// Errors and warnings only; the SDK logs every call at info level.
const logger = {
  error: (...a) => console.error(...a),
  warn: (...a) => console.warn(...a),
  info: () => {},
  debug: () => {},
};

const client = new TaskHubGrpcClient({ hostAddress: address, logger });
test.after(() => client.stop());

// Generous: the machine may be busy, and Azurite is slower than a real account.
const timeoutSeconds = 120;

const id = (name) => `${run}-${name}`;

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

const grpcCode = (code) => (e) => e && e.code === code;
const ALREADY_EXISTS = 6;

test("hello cities: start without input, wait, read back", async () => {
  const instanceId = await client.scheduleNewOrchestration("HelloCities");
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.COMPLETED);
  assert.deepEqual(JSON.parse(st.serializedOutput), ["Hello Tokyo!", "Hello Seattle!", "Hello London!"]);
  // The SDK sends "" for "no input"; it is stored and read back as sent.
  assert.equal(st.serializedInput, "");
  assert.equal(st.name, "HelloCities");
  assert.ok(st.createdAt.getTime() > 0 && st.lastUpdatedAt >= st.createdAt);
  assert.equal(st.failureDetails, undefined);

  const lean = await client.getOrchestrationState(instanceId, false);
  assert.equal(lean.serializedOutput, undefined);
  assert.equal(await client.getOrchestrationState(id("no-such-instance")), undefined);

  // One instance the Go driver reads back with `azdurable instances show`.
  const kept = await client.scheduleNewOrchestration("HelloCities", "kept", { instanceId: id("kept"), tags: { sdk: "js" } });
  assert.equal(kept, id("kept"));
  const keptState = await completed(kept);
  assert.deepEqual(keptState.tags, { sdk: "js" });
  assert.equal(keptState.serializedInput, '"kept"');
});

test("external event, duplicate start, custom status", async () => {
  const instanceId = id("waiter");
  await client.scheduleNewOrchestration("Waiter", "in", instanceId);
  const started = await client.waitForOrchestrationStart(instanceId, false, timeoutSeconds);
  assert.equal(started.runtimeStatus, OrchestrationStatus.RUNNING);
  await assert.rejects(client.scheduleNewOrchestration("Waiter", "again", instanceId), grpcCode(ALREADY_EXISTS));
  await client.raiseOrchestrationEvent(instanceId, "Go", "hello");
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.COMPLETED);
  assert.equal(JSON.parse(st.serializedOutput), "hello");

  const approval = id("approval");
  await client.scheduleNewOrchestration("Approval", { id: "r1", requester: "ann" }, approval);
  await waitFor(approval, "the approval request", (s) => s.serializedCustomStatus === '"waiting for approval"');
  await client.raiseOrchestrationEvent(approval, "Approval", { approved: true, by: "bob" });
  const done = await completed(approval);
  assert.deepEqual(JSON.parse(done.serializedOutput), { requestId: "r1", status: "approved", by: "bob" });
  assert.equal(done.serializedCustomStatus, '"approved"');
});

test("scheduled start", async () => {
  const at = new Date(Date.now() + 4000);
  const instanceId = await client.scheduleNewOrchestration("HelloCities", undefined, { instanceId: id("later"), startAt: at });
  const pending = await client.getOrchestrationState(instanceId);
  if (Date.now() < at.getTime() - 1000) {
    assert.equal(pending.runtimeStatus, OrchestrationStatus.PENDING);
  }
  await client.waitForOrchestrationStart(instanceId, false, timeoutSeconds);
  // Queue visibility delays are whole seconds: up to one second early.
  assert.ok(Date.now() >= at.getTime() - 1000, "started before its start time");
  assert.equal((await completed(instanceId)).runtimeStatus, OrchestrationStatus.COMPLETED);
});

test("suspend, resume, terminate", async () => {
  const instanceId = id("suspended");
  await client.scheduleNewOrchestration("Waiter", undefined, instanceId);
  await client.waitForOrchestrationStart(instanceId, false, timeoutSeconds);
  await client.suspendOrchestration(instanceId);
  await waitFor(instanceId, "suspended", (s) => s.runtimeStatus === OrchestrationStatus.SUSPENDED);
  await client.resumeOrchestration(instanceId);
  await waitFor(instanceId, "running", (s) => s.runtimeStatus === OrchestrationStatus.RUNNING);
  await client.terminateOrchestration(instanceId, { reason: "done testing" });
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.TERMINATED);
  assert.deepEqual(JSON.parse(st.serializedOutput), { reason: "done testing" });
  // Terminating again changes nothing.
  await client.terminateOrchestration(instanceId);
});

test("recursive terminate", async () => {
  const parentId = id("parent");
  const childId = id("parent-child");
  await client.scheduleNewOrchestration("ParentOfWaiter", childId, parentId);
  await waitFor(childId, "the child to run", (s) => s.runtimeStatus === OrchestrationStatus.RUNNING);
  await client.terminateOrchestration(parentId, terminateOptions({ output: "stop", recursive: true }));
  assert.equal((await completed(parentId)).runtimeStatus, OrchestrationStatus.TERMINATED);
  assert.equal((await completed(childId)).runtimeStatus, OrchestrationStatus.TERMINATED);
});

test("failure details and rewind", async () => {
  const instanceId = id("uncaught");
  await client.scheduleNewOrchestration("Uncaught", "order-1", instanceId);
  const st = await completed(instanceId);
  assert.equal(st.runtimeStatus, OrchestrationStatus.FAILED);
  assert.ok(st.failureDetails, "no failure details");
  assert.match(st.failureDetails.message, /card declined: order-1/);
  assert.ok(st.failureDetails.errorType);
  assert.throws(() => st.raiseIfFailed());

  // Fail always fails: the rewound instance runs again and fails again.
  const before = (await client.getOrchestrationHistory(instanceId)).length;
  await client.rewindInstance(instanceId, "try again");
  await waitFor(instanceId, "failing again", (s) => s.runtimeStatus === OrchestrationStatus.FAILED &&
    s.lastUpdatedAt > st.lastUpdatedAt);
  assert.ok((await client.getOrchestrationHistory(instanceId)).length > before, "the rewound run left no history");

  const fine = await client.scheduleNewOrchestration("HelloCities");
  await completed(fine);
  await assert.rejects(client.rewindInstance(fine, "nothing to rewind"), /not|cannot|Completed/i);
  await assert.rejects(client.rewindInstance(id("no-such-instance"), "x"), /was not found/);
});

test("restart", async () => {
  const instanceId = id("restart");
  await client.scheduleNewOrchestration("HelloCities", "again", instanceId);
  const first = await completed(instanceId);
  assert.equal(await client.restartOrchestration(instanceId), instanceId);
  const again = await waitFor(instanceId, "the restarted run", (s) => s.runtimeStatus === OrchestrationStatus.COMPLETED &&
    s.createdAt > first.createdAt);
  assert.equal(again.serializedInput, '"again"');

  const newId = await client.restartOrchestration(instanceId, true);
  assert.notEqual(newId, instanceId);
  assert.equal((await completed(newId)).serializedInput, '"again"');

  const running = id("restart-running");
  await client.scheduleNewOrchestration("Waiter", undefined, running);
  await client.waitForOrchestrationStart(running, false, timeoutSeconds);
  await assert.rejects(client.restartOrchestration(running), /cannot be restarted/);
  await assert.rejects(client.restartOrchestration(id("no-such-instance")), /was not found/);
  await client.terminateOrchestration(running);
  await completed(running);
});

test("query with paging, instance ids", async () => {
  const prefix = id("q-");
  const ids = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await client.scheduleNewOrchestration("HelloCities", String(i), prefix + i));
  }
  for (const i of ids) await completed(i);

  const pages = [];
  for await (const page of client.getAllInstances({ instanceIdPrefix: prefix, fetchInputsAndOutputs: true }).asPages(undefined, 1)) {
    pages.push(page.values.map((s) => s.instanceId));
    assert.ok(page.values.length <= 1);
    for (const s of page.values) assert.equal(JSON.parse(s.serializedInput), s.instanceId.slice(prefix.length));
  }
  assert.deepEqual(pages.flat().sort(), ids.sort());
  assert.ok(pages.length >= 3, `one instance per page, got ${JSON.stringify(pages)}`);

  const all = [];
  for await (const s of client.getAllInstances({ instanceIdPrefix: prefix, statuses: [OrchestrationStatus.COMPLETED] })) {
    all.push(s.instanceId);
    assert.equal(s.serializedOutput, undefined);
  }
  assert.deepEqual(all.sort(), ids.sort());
  const none = [];
  for await (const s of client.getAllInstances({ instanceIdPrefix: prefix, statuses: [OrchestrationStatus.RUNNING] })) none.push(s);
  assert.deepEqual(none, []);

  const listed = [];
  let key;
  do {
    const page = await client.listInstanceIds({
      runtimeStatus: [OrchestrationStatus.COMPLETED],
      completedTimeFrom: new Date(Date.now() - 3600 * 1000),
      pageSize: 2,
      lastInstanceKey: key,
    });
    listed.push(...page.values);
    key = page.continuationToken;
  } while (key);
  for (const i of ids) assert.ok(listed.includes(i), `${i} not listed`);
});

test("history", async () => {
  const instanceId = await client.scheduleNewOrchestration("HelloCities", "h");
  await completed(instanceId);
  const events = await client.getOrchestrationHistory(instanceId);
  const types = events.map((e) => e.type);
  assert.equal(types.filter((t) => t === "TaskScheduled").length, 3);
  assert.equal(types.filter((t) => t === "TaskCompleted").length, 3);
  assert.ok(types.includes("ExecutionStarted") && types.includes("ExecutionCompleted"), types.join(","));
  assert.deepEqual(await client.getOrchestrationHistory(id("no-such-instance")), []);
});

test("purge: by id, recursive, by filter", async () => {
  const running = id("purge-running");
  await client.scheduleNewOrchestration("Waiter", undefined, running);
  await client.waitForOrchestrationStart(running, false, timeoutSeconds);
  assert.equal((await client.purgeOrchestration(running)).deletedInstanceCount, 0);
  assert.ok(await client.getOrchestrationState(running));

  const done = await client.scheduleNewOrchestration("HelloCities");
  await completed(done);
  assert.equal((await client.purgeOrchestration(done)).deletedInstanceCount, 1);
  assert.equal(await client.getOrchestrationState(done), undefined);

  const parentId = id("purge-parent");
  const childId = id("purge-parent-child");
  await client.scheduleNewOrchestration("ParentOfWaiter", childId, parentId);
  await waitFor(childId, "the child to run", (s) => s.runtimeStatus === OrchestrationStatus.RUNNING);
  await client.raiseOrchestrationEvent(childId, "Go", "bye");
  assert.equal(JSON.parse((await completed(parentId)).serializedOutput), "parent:bye");
  assert.equal((await client.purgeOrchestration(parentId, { recursive: true })).deletedInstanceCount, 2);
  assert.equal(await client.getOrchestrationState(childId), undefined);

  const failed = id("purge-failed");
  const since = new Date(Date.now() - 1000);
  await client.scheduleNewOrchestration("Uncaught", "p", failed);
  await completed(failed);
  const criteria = new PurgeInstanceCriteria();
  criteria.setCreatedTimeFrom(since);
  criteria.setRuntimeStatusList([OrchestrationStatus.FAILED]);
  assert.ok((await client.purgeOrchestration(criteria)).deletedInstanceCount >= 1);
  assert.equal(await client.getOrchestrationState(failed), undefined);
  assert.ok(await client.getOrchestrationState(running), "a purge by filter took a running instance");

  await client.terminateOrchestration(running);
  await completed(running);
});

test("entities: the client's calls are served", async () => {
  // No worker of this hub hosts an entity (the worker tests run one):
  // the signal is stored and waits for a worker that hosts Counter.
  const counter = new EntityInstanceId("Counter", id("counter"));
  assert.equal(await client.getEntity(counter), undefined);
  await client.signalEntity(counter, "add", 4);
  await client.signalEntity(counter, "add", 1, { signalTime: new Date(Date.now() + 60000) });
  assert.equal(await client.getEntity(counter, false), undefined);
  const found = [];
  for await (const e of client.getEntities({ instanceIdStartsWith: `counter@${id("counter")}` })) {
    found.push(e.id.toString());
  }
  assert.deepEqual(found, []);
  const cleaned = await client.cleanEntityStorage();
  assert.equal(cleaned.emptyEntitiesRemoved, 0);
  assert.equal(cleaned.continuationToken, undefined);
});
