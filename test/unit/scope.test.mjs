// Unit: readPath, a plain property path read in a session's scope without running its code.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readPath } from "../../dist/agent/main-thread/scope.js";

const layers = (own = {}) => ({
  own,
  builtins: { console: "session console" },
  namespace: { app: { jobs: { queue: [1] } }, shadow: "ns" },
});

test("a path's first name is looked up as code would: session names, builtins, namespace, the app's globals", () => {
  const own = { mine: { deep: { er: 42 } }, shadow: "own" };
  assert.deepEqual(readPath("mine.deep.er", layers(own)), { value: 42 });
  assert.deepEqual(readPath("shadow", layers(own)), { value: "own" }, "a session name hides the namespace's");
  assert.deepEqual(readPath("shadow", layers()), { value: "ns" });
  assert.deepEqual(readPath("console", layers()), { value: "session console" });
  assert.deepEqual(readPath("  app . jobs.queue ", layers()), { value: [1] });
  assert.deepEqual(readPath("process.pid", layers()), { value: process.pid });
  assert.deepEqual(readPath("app.nothing", layers()), { value: undefined }, "a missing property is undefined, as in code");
});

test("anything else is left to an evaluation: other syntax, unknown or unassigned names, a read through null", () => {
  for (const code of [
    "app['jobs']",
    "app.jobs.queue[0]",
    "f()",
    "a?.b",
    "this",
    "this.x",
    "arguments",
    "1",
    "",
    "app.",
    ".app",
    "a..b",
    "app.jobs + 1",
    "ünï.x",
  ]) {
    assert.equal(readPath(code, layers()), undefined, code);
  }
  assert.equal(readPath("notDefinedAnywhere.x", layers()), undefined);
  assert.equal(readPath("none.x", layers({ none: null })), undefined, "the evaluation throws the TypeError");
  assert.equal(readPath("gone.x", layers({ gone: undefined, gone2: 1 })), undefined);
});

test("getters on the path run, and what they throw reaches the caller", () => {
  let reads = 0;
  const own = {
    obj: {
      get lazy() {
        reads++;
        return { fn: "found" };
      },
      get broken() {
        throw new Error("getter threw");
      },
    },
  };
  assert.deepEqual(readPath("obj.lazy.fn", layers(own)), { value: "found" });
  assert.equal(reads, 1);
  assert.throws(() => readPath("obj.broken.x", layers(own)), /getter threw/);
});
