// Unit: which files are the manhole's own (their frames are never the user's, and a main thread
// found only in them is turning, not blocked): the whole package, protocol/ and shared/ included.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { isOwnFile } from "../../dist/shared/own-files.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

test("the agent's, the protocol's and the shared modules' files are the manhole's own", () => {
  for (const file of ["agent/main-thread/evaluator.js", "agent/socket-side/watchdog.js", "protocol/outcome.js", "shared/duration.js"]) {
    assert.equal(isOwnFile(path.join(ROOT, "dist", file)), true, file);
  }
});

test("the app's files are not, nor a neighbour whose name starts like the package's folder", () => {
  for (const file of [
    path.join(ROOT, "test", "fixtures", "ledger.cjs"),
    path.join(ROOT, "dist-app", "server.js"),
    "/srv/app/index.js",
    "node:internal/timers",
  ]) {
    assert.equal(isOwnFile(file), false, file);
  }
});
