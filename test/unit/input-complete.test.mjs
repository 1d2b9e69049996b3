// Unit: does an input need more lines?
import assert from "node:assert/strict";
import { test } from "node:test";
import { needsMoreInput } from "../../dist/shared/input-complete.js";

test("unfinished blocks, calls, templates and strings ask for more", () => {
  for (const code of ["function f() {", "foo(1,", "`a ${", "[1, 2,", "if (x) {\n  y()"]) {
    assert.equal(needsMoreInput(code), true, code);
  }
});

test("complete inputs and real syntax errors do not", () => {
  for (const code of ["1 + 1", "function f() {}", "let = ;", "}", "'unterminated"]) {
    assert.equal(needsMoreInput(code), false, code);
  }
});

test("multi-line TypeScript asks for more while a bracket is open or an operator ends it", () => {
  for (const code of [
    "interface X {",
    "interface X {\n  a: number",
    "type A = {",
    "type A = string |",
    "enum E {",
    "namespace N {",
    "function f(a: number) {",
    "class A { constructor(private a: number) {",
    "let x: number = 1 +",
    "const p = { x: 1 } as {",
    "let s: string = `a ${",
  ]) {
    assert.equal(needsMoreInput(code), true, code);
  }
  for (const code of ["interface X {\n  a: number\n}", "type A = string | number", "let x: number = 1", "enum E { A }", "x as number;"]) {
    assert.equal(needsMoreInput(code), false, code);
  }
});

test("JavaScript errors that do not look like TypeScript are still sent at once", () => {
  for (const code of ["foo(1 2", "foo(1 2 {", "let = ;"]) assert.equal(needsMoreInput(code), false, code);
});
