// Unit: the interrupt cells' cancel slots, both halves (worker marks, main thread takes); the
// termination hand-shake; the heartbeat's two rates.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import {
  attendLoop,
  awaitTermination,
  CANCEL_SLOTS,
  CELL,
  claimTermination,
  INTERRUPT_CELLS,
  markCancelled,
  readLoopState,
  releaseTermination,
  startHeartbeat,
  takeCancelled,
} from "../../dist/agent/boundary/shared-memory.js";

const cells = () => new Int32Array(new SharedArrayBuffer(4 * INTERRUPT_CELLS));

/** Resolves once `ok()` holds (looked at every 10 ms), or fails with `what` after 10 s. */
async function until(ok, what) {
  for (let i = 0; i < 1000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), what);
}

test("an evaluation marked before it starts is taken (once) when it starts", () => {
  const c = cells();
  assert.equal(markCancelled(c, 5), true);
  Atomics.store(c, CELL.started, 5);
  assert.equal(takeCancelled(c, 5), true);
  assert.equal(takeCancelled(c, 5), false);
});

test("an evaluation that already started cannot be marked", () => {
  const c = cells();
  Atomics.store(c, CELL.started, 7);
  assert.equal(markCancelled(c, 7), false);
  assert.equal(takeCancelled(c, 7), false);
});

test("slots of evaluations that have started are reused; all slots pending refuses more", () => {
  const c = cells();
  for (let id = 1; id <= CANCEL_SLOTS; id++) assert.equal(markCancelled(c, id), true);
  assert.equal(markCancelled(c, CANCEL_SLOTS + 1), false, "every slot holds one still to come");
  Atomics.store(c, CELL.started, 1);
  assert.equal(markCancelled(c, CANCEL_SLOTS + 1), true, "the slot of evaluation 1 is free again");
});

test("a termination is claimed only while the evaluation's synchronous part runs", () => {
  const c = cells();
  Atomics.store(c, CELL.sync, 4);
  assert.equal(claimTermination(c, 3), false, "not the one running");
  assert.equal(Atomics.load(c, CELL.terminating), 0, "a refused claim leaves nothing behind");
  assert.equal(claimTermination(c, 4), true);
  assert.equal(Atomics.load(c, CELL.terminating), 4);
  releaseTermination(c, 4);
  assert.equal(Atomics.load(c, CELL.terminating), 0);
  Atomics.store(c, CELL.sync, 0);
  assert.equal(claimTermination(c, 4), false, "it has ended");
});

test("an evaluation that ends while its termination is claimed waits until the worker releases it", async () => {
  const c = cells();
  Atomics.store(c, CELL.sync, 9);
  assert.equal(claimTermination(c, 9), true);
  // The worker's side, in a real thread: it writes `done` before it releases.
  const done = new Int32Array(new SharedArrayBuffer(4));
  const w = new Worker(
    `const { workerData: { c, done } } = require("node:worker_threads");
     setTimeout(() => { Atomics.store(done, 0, 1); Atomics.compareExchange(c, ${CELL.terminating}, 9, 0); Atomics.notify(c, ${CELL.terminating}); }, 50);`,
    { eval: true, workerData: { c, done } },
  );
  Atomics.store(c, CELL.sync, 0);
  awaitTermination(c, 9, 10_000);
  assert.equal(Atomics.load(done, 0), 1, "returned only after the release");
  await w.terminate();
  // Nothing claimed: no wait at all; another evaluation's claim does not hold this one.
  awaitTermination(c, 9, 10_000);
  Atomics.store(c, CELL.terminating, 12);
  awaitTermination(c, 9, 10_000);
});

test("the heartbeat beats slowly until a session attends the loop, then fast; blocked is judged by the rate promised", async () => {
  const beat = startHeartbeat();
  try {
    const cellsOf = new Int32Array(beat.buffer);
    assert.equal(Atomics.load(cellsOf, 3), 250, "idle: every 250 ms");
    assert.equal(readLoopState(beat.buffer).blocked, false);
    const leave = attendLoop(beat.buffer);
    await until(() => Atomics.load(cellsOf, 3) === 50, "attended: every 50 ms from the next beat on");
    leave();
    leave(); // once only
    assert.equal(Atomics.load(cellsOf, 2), 0);
    await until(() => Atomics.load(cellsOf, 3) === 250, "idle again");
  } finally {
    beat.stop();
  }
});
