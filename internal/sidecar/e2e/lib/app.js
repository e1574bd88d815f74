// The orchestrations and activities the worker tests run in JavaScript
// workers (worker.test.js in the test process, worker.js in processes of
// their own). Orchestrators are generator functions, as the SDK wants;
// everything they decide comes from their input and history.
"use strict";

const { RetryPolicy, whenAll, whenAny, EntityInstanceId } = require("@microsoft/durabletask-js");

// failures counts, per key, the failures left to throw (retries, rewind).
const failures = new Map();

const activities = {
  SayHello: (_ctx, city) => `Hello ${city}!`,
  Inc: (_ctx, n) => n + 1,
  Square: (_ctx, n) => n * n,
  // Fails input.times times for input.key, then returns "ok <key>".
  Flaky: (_ctx, input) => {
    const left = failures.has(input.key) ? failures.get(input.key) : input.times;
    if (left > 0) {
      failures.set(input.key, left - 1);
      throw new Error(`flaky ${input.key}: ${left} failure(s) left`);
    }
    return `ok ${input.key}`;
  },
  // A step of the scale-out runs: slow enough that a run spans a kill.
  Step: async (_ctx, n) => {
    await new Promise((r) => setTimeout(r, 100));
    return n + 1;
  },
};

const orchestrators = {
  HelloCities: async function* (ctx) {
    const out = [];
    for (const city of ["Tokyo", "Seattle", "London"]) out.push(yield ctx.callActivity("SayHello", city));
    return out;
  },
  // Inc, input.n times.
  Chain: async function* (ctx, input) {
    let v = input.start;
    for (let i = 0; i < input.n; i++) v = yield ctx.callActivity("Inc", v);
    return v;
  },
  // The sum of the squares of 1..n, all at once.
  FanOut: async function* (ctx, n) {
    const tasks = [];
    for (let i = 1; i <= n; i++) tasks.push(ctx.callActivity("Square", i));
    const results = yield whenAll(tasks);
    return results.reduce((a, b) => a + b, 0);
  },
  Sleep: async function* (ctx, seconds) {
    yield ctx.createTimer(seconds);
    return "woke";
  },
  // The "approve" event or a timeout after input seconds.
  Approval: async function* (ctx, seconds) {
    const approval = ctx.waitForExternalEvent("approve");
    const timeout = ctx.createTimer(seconds);
    const winner = yield whenAny([approval, timeout]);
    if (winner === approval) return `approved by ${approval.getResult()}`;
    return "timed out";
  },
  // Children "<id>-<i>" each of a Chain; the sum of their results.
  Parent: async function* (ctx, n) {
    const tasks = [];
    for (let i = 0; i < n; i++) {
      tasks.push(ctx.callSubOrchestrator("Chain", { start: i * 10, n: 2 }, { instanceId: `${ctx.instanceId}-${i}` }));
    }
    const results = yield whenAll(tasks);
    return results.reduce((a, b) => a + b, 0);
  },
  // A child that waits for ever, for recursive terminate.
  Forever: async function* (ctx) {
    yield ctx.waitForExternalEvent("never");
  },
  ParentOfForever: async function* (ctx) {
    return yield ctx.callSubOrchestrator("Forever", undefined, { instanceId: `${ctx.instanceId}-child` });
  },
  // Continues as new until input reaches 5, keeping the "bump" events.
  Counter: async function* (ctx, n) {
    if (n >= 5) return n;
    ctx.continueAsNew(n + 1, true);
  },
  Retry: async function* (ctx, input) {
    const retry = new RetryPolicy({ maxNumberOfAttempts: 4, firstRetryIntervalInMilliseconds: 500, backoffCoefficient: 1 });
    return yield ctx.callActivity("Flaky", input, { retry });
  },
  // Fails while Flaky fails (no retries): for rewind.
  Fragile: async function* (ctx, input) {
    const a = yield ctx.callActivity("Inc", 1);
    const b = yield ctx.callActivity("Flaky", input);
    return `${a} ${b}`;
  },
  // Sets its custom status at each stage; stage 2 waits for "next".
  Stages: async function* (ctx) {
    ctx.setCustomStatus({ stage: 1 });
    yield ctx.waitForExternalEvent("next");
    ctx.setCustomStatus({ stage: 2 });
    const v = yield ctx.waitForExternalEvent("next");
    ctx.setCustomStatus({ stage: 3, last: v });
    return "staged";
  },
  // Waits for "go" and returns its data.
  WaitGo: async function* (ctx) {
    return yield ctx.waitForExternalEvent("go");
  },
  // Uses the Counter entity named by its key: signals add 5, calls add 2,
  // locks it and calls get inside the critical section; returns get.
  UseCounter: async function* (ctx, key) {
    const id = new EntityInstanceId("Counter", key);
    ctx.entities.signalEntity(id, "add", 5);
    yield ctx.entities.callEntity(id, "add", 2);
    const lock = yield ctx.entities.lockEntities(id);
    const v = yield ctx.entities.callEntity(id, "get");
    lock.release();
    return v;
  },
  // Steps n times: the scale-out runs.
  Steps: async function* (ctx, n) {
    let v = 0;
    for (let i = 0; i < n; i++) v = yield ctx.callActivity("Step", v);
    return v;
  },
};

// Counter is an entity whose state is a number: add (a number), get,
// reset; the twin of azdurable's samples/counter.
class Counter {
  run(op) {
    const v = op.state.getState(0) ?? 0;
    switch (op.name.toLowerCase()) {
      case "add":
        op.state.setState(v + op.getInput());
        return undefined;
      case "get":
        return v;
      case "reset":
        op.state.setState(0);
        return undefined;
    }
    throw new Error(`Counter has no operation ${op.name}`);
  }
}

// register adds everything to a TaskHubGrpcWorker; onActivity, when given,
// is told of each activity run.
function register(worker, onActivity) {
  worker.addNamedEntity("Counter", () => new Counter());
  for (const [name, fn] of Object.entries(orchestrators)) worker.addNamedOrchestrator(name, fn);
  for (const [name, fn] of Object.entries(activities)) {
    worker.addNamedActivity(name, async (ctx, input) => {
      if (onActivity) onActivity(name, ctx, input);
      return fn(ctx, input);
    });
  }
}

module.exports = { register };
