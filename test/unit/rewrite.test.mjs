// Unit: the input rewrite (declarations to the session scope, checks, await, import()).
import assert from "node:assert/strict";
import { test } from "node:test";
import vm from "node:vm";
import { rewrite, TICK_HELPER } from "../../dist/agent/main-thread/rewrite.js";

test("top-level declarations are collected; let/const/class/function rebind, var does not", () => {
  const r = rewrite("var a = 1; let b = 2; const c = 3; class D {}; function e() {}");
  assert.deepEqual([...r.declared].sort(), ["D", "a", "b", "c", "e"]);
  assert.deepEqual([...r.rebound].sort(), ["D", "b", "c", "e"]);
  assert.equal(r.awaited, false);
});

test("loops and function bodies get the interrupt check", () => {
  const r = rewrite("for (;;) {} function f() { return 1 }");
  assert.ok(r.code.split(TICK_HELPER).length - 1 >= 2, r.code);
});

test("top-level await wraps the input in an async function", () => {
  assert.equal(rewrite("await 1").awaited, true);
  assert.equal(rewrite("async () => { await 1 }").awaited, false);
});

test("positions in the rewritten code map back to the input as typed", () => {
  const input = "let x = 1;\nthrow new Error('here')";
  const r = rewrite(input);
  const lines = r.code.split("\n");
  const line = lines.findIndex((l) => l.includes("throw new Error")) + 1;
  const column = lines[line - 1].indexOf("throw") + 1;
  assert.deepEqual(r.position(line, column), [2, 1]);
});

test("input that does not parse is passed through for the engine's own SyntaxError", () => {
  const r = rewrite("let = ;");
  assert.equal(typeof r.code, "string");
});

test("a var without initialiser keeps the input's completion value and the syntax verdict is told", () => {
  const r = rewrite("1 + 1; var x;");
  assert.equal(vm.runInThisContext(r.code.replace(/\bx\b/, "_x")), 2);
  assert.equal(rewrite("a.b").syntax, "skipped");
  assert.equal(rewrite("let a = 1").syntax, "ok");
  assert.equal(rewrite("let a: number = 1").syntax, "error");
});
