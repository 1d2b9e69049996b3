// Unit: the interrupt cells' cancel slots, both halves (worker marks, main thread takes).
import assert from "node:assert/strict";
import { test } from "node:test";
import { CANCEL_SLOTS, CELL, INTERRUPT_CELLS, markCancelled, takeCancelled } from "../../dist/agent/boundary/shared-memory.js";

const cells = () => new Int32Array(new SharedArrayBuffer(4 * INTERRUPT_CELLS));

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
