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
