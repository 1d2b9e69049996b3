// Unit: TypeScript input (stripping, the transform's positions, source maps, what looks typed).
import assert from "node:assert/strict";
import nodeModule from "node:module";
import { test } from "node:test";
import vm from "node:vm";
import { decodeMappings, sourcePosition } from "../../dist/agent/main-thread/source-map.js";
import { stripperState, stripTypes } from "../../dist/agent/main-thread/typescript.js";
import { looksTypeScript } from "../../dist/shared/typescript-syntax.js";

test("source map mappings decode and map generated places back to the source", () => {
  const lines = decodeMappings("AAAA;AACA,IAAI;;AAEF");
  assert.deepEqual(lines, [
    [[0, 0, 0]],
    [
      [0, 1, 0],
      [4, 1, 4],
    ],
    [],
    [[0, 3, 2]],
  ]);
  assert.deepEqual(sourcePosition(lines, 2, 6), [2, 6]);
  assert.deepEqual(sourcePosition(lines, 2, 1), [2, 1]);
  assert.deepEqual(sourcePosition(lines, 3, 5), [2, 5]); // an unmapped line: the last place before it
  assert.deepEqual(sourcePosition(lines, 4, 1), [4, 3]);
  assert.deepEqual(sourcePosition(decodeMappings(""), 3, 4), [3, 4]);
});

test("what looks like TypeScript, and what does not", () => {
  for (const code of [
    "let x: number = 1",
    "interface A { a: number }",
    "type T = string",
    "enum E { A }",
    "namespace N {}",
    "function f(a: number) {}",
    "const f = (a?: string) => a",
    "x as unknown",
    "obj satisfies T",
    "a!.b",
    "function id<T>(v) {}",
    "import type { A } from 'a'",
    "class P { constructor(private a) {} }",
    "declare const z",
  ])
    assert.equal(looksTypeScript(code), true, code);
  for (const code of ["foo(1 2", "let = 1", "a ? b : c)", "({a: 1", "'as' + x)"]) assert.equal(looksTypeScript(code), false, code);
});

const state = stripperState();
test("strip mode blanks types in place; positions and lines stay", { skip: !state.strip && "no stripper here" }, () => {
  const r = stripTypes("let x: number = 1\ninterface A { a: number }\nx as number");
  assert.equal(r.ok, true);
  assert.equal(r.mode, "strip");
  assert.equal(r.code, "let x         = 1\n                         \nx          ");
  assert.equal(r.position, undefined);
  assert.equal(stripperState().used, true);
});

test("enum and namespace go through a transform whose positions map back", { skip: !state.transform && "no transform here" }, () => {
  const r = stripTypes("enum E { A, B }\nlet y: number = E.B\nthrow new Error('x')");
  assert.equal(r.ok, true);
  assert.equal(r.mode, "transform");
  const lines = r.code.split("\n");
  const at = lines.findIndex((l) => l.includes("throw new Error"));
  assert.ok(at > 2, r.code);
  assert.deepEqual(r.position(at + 1, lines[at].indexOf("throw") + 1), [3, 1]);
  const value = vm.runInThisContext(`${r.code.replace(/throw new Error\('x'\);?/, "")}\n;[E.A, E.B, y]`);
  assert.deepEqual(value, [0, 1, 1]);
});

test("input that is not TypeScript either is told apart", { skip: !state.strip && "no stripper here" }, () => {
  assert.deepEqual(stripTypes("let = = 1"), { ok: false, invalid: true });
});

test("the stripper's ExperimentalWarning never reaches the process; other warnings do", {
  skip: !nodeModule.stripTypeScriptTypes && "no module.stripTypeScriptTypes",
}, async () => {
  const seen = [];
  const listener = (w) => seen.push(w.message);
  process.on("warning", listener);
  stripTypes("let a: string = 'x'");
  process.emitWarning("the app's own", "ExperimentalWarning");
  await new Promise((r) => setImmediate(r));
  process.off("warning", listener);
  assert.deepEqual(seen, ["the app's own"]);
});
