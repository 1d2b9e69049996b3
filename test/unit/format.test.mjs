// Unit: stacks cut to the user's frames; values printed safely.
import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanStack, formatValue } from "../../dist/agent/main-thread/format.js";

test("manhole and Node internal frames are cut; REPL frames stay", () => {
  const stack = [
    "Error: boom",
    "    at f (REPL3:1:7)",
    "    at eval (REPL3:1:20)",
    "    at Evaluator.run (/x/node_modules/manhole/dist/agent/main-thread/evaluator.js:1:1)",
    "    at node:internal/process/task_queues:95:5",
  ].join("\n");
  const cut = cleanStack(stack);
  assert.match(cut, /^Error: boom\n {4}at f \(REPL3:1:7\)/);
  assert.doesNotMatch(cut, /evaluator\.js|node:internal/);
});

test("a revoked proxy and a throwing getter print without running anything hostile", () => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  assert.equal(typeof formatValue(proxy), "string");
  assert.equal(
    typeof formatValue({
      get x() {
        throw new Error("no");
      },
    }),
    "string",
  );
});
