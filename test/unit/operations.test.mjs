// Unit: operation declarations and their arguments; the duration format.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgError, argsFromObject, parseArgs, parseDurationMs } from "../../dist/agent/operations/args.js";
import { OPERATIONS, observeSafeList, operation } from "../../dist/agent/operations/registry.js";
import { formatDuration } from "../../dist/shared/duration.js";

test("every operation declares what the registry and describe need", () => {
  const names = new Set();
  for (const op of OPERATIONS) {
    assert.match(op.name, /^[a-z][a-z0-9-]*$/);
    assert.ok(!names.has(op.name), `one ${op.name}`);
    names.add(op.name);
    assert.ok(op.help.length > 0 && !op.help.includes("\n"), `${op.name}: one-line help`);
    assert.ok(["socket", "main", "main-or-socket"].includes(op.runsOn));
    assert.equal(typeof op.observeSafe, "boolean");
    assert.equal(typeof op.heavy, "boolean");
    if (op.runsOn !== "socket") assert.equal(typeof op.main, "function", `${op.name} has a main-thread half`);
    assert.equal(operation(op.name), op);
  }
  assert.match(observeSafeList(), /\.help.*\.exit.*\.stack/);
});

test("arguments: positional, name=value, defaults, the last string takes the rest", () => {
  const specs = [
    { name: "seconds", type: "duration", help: "", default: 5000 },
    { name: "top", type: "number", help: "", default: 10 },
    { name: "filter", type: "string", help: "", default: "" },
  ];
  assert.deepEqual(parseArgs(specs, ""), { seconds: 5000, top: 10, filter: "" });
  assert.deepEqual(parseArgs(specs, "2s 3 a b"), { seconds: 2000, top: 3, filter: "a b" });
  assert.deepEqual(parseArgs(specs, "top=4"), { seconds: 5000, top: 4, filter: "" });
  assert.throws(() => parseArgs(specs, "soon"), ArgError);
  assert.throws(() => parseArgs(specs, "nope=1"), /unknown argument/);
  assert.throws(() => parseArgs([{ name: "x", type: "number", help: "" }], ""), /missing argument/);
  assert.deepEqual(argsFromObject(specs, { seconds: "1m" }), { seconds: 60000, top: 10, filter: "" });
  assert.throws(() => argsFromObject(specs, { top: {} }), ArgError);
});

test("durations parse and print one way", () => {
  assert.equal(parseDurationMs("250ms"), 250);
  assert.equal(parseDurationMs("1.5s"), 1500);
  assert.equal(parseDurationMs("2m"), 120000);
  assert.equal(parseDurationMs("12"), 12);
  assert.equal(parseDurationMs("-1s"), undefined);
  assert.equal(formatDuration(850), "850 ms");
  assert.equal(formatDuration(3250), "3.2 s");
  assert.equal(formatDuration(42_000), "42 s");
  assert.equal(formatDuration(192_000), "3m12s");
  assert.equal(formatDuration(3_720_000), "1h02m");
  assert.equal(formatDuration(183_600_000), "2d03h");
  assert.equal(formatDuration(3250, { compact: true }), "3.2s");
  assert.equal(formatDuration(null), "?");
});

test("README's observeOnly row names exactly the observe-safe operations", async () => {
  const fs = await import("node:fs");
  const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const row = readme.split("\n").find((l) => l.startsWith("| `observeOnly` |"));
  assert.ok(row, "README has the observeOnly row");
  const listed = [...row.matchAll(/`\.([a-z-]+)`/g)].map((m) => m[1]).sort();
  const safe = OPERATIONS.filter((op) => op.observeSafe)
    .map((op) => op.name)
    .sort();
  assert.deepEqual(listed, safe);
});

test("README's environment table lists exactly the variables manhole/auto reads", async () => {
  const fs = await import("node:fs");
  const { ENV_OPTIONS } = await import("../../dist/agent/env-options.js");
  const readme = fs.readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Zero-code start"), readme.indexOf("\n## ", readme.indexOf("## Zero-code start") + 3));
  const rows = [...section.matchAll(/^\| `(MANHOLE_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  const control = ["MANHOLE", "MANHOLE_CHILDREN", "MANHOLE_SKIP", "MANHOLE_DIR"];
  assert.deepEqual(rows.filter((r) => !control.includes(r)).sort(), ENV_OPTIONS.map((o) => o.env).sort());
});

test("manhole/auto leaves Node tools and scripts without a main module alone", async () => {
  const { skipReason } = await import("../../dist/agent/auto-start.js");
  assert.equal(skipReason({}, ["node", "/srv/app/server.js"]), undefined);
  assert.equal(skipReason({ MANHOLE: "0" }, ["node", "/srv/app/server.js"]), "MANHOLE=0");
  assert.equal(skipReason({}, ["node"]), "no main script");
  assert.match(skipReason({}, ["node", "/usr/lib/node_modules/npm/bin/npm-cli.js"]), /tool/);
  assert.match(skipReason({}, ["node", "/usr/lib/node_modules/corepack/dist/corepack.js"]), /tool/);
  assert.match(skipReason({ MANHOLE_SKIP: "worker, cron" }, ["node", "/srv/app/cron.mjs"]), /tool/);
  assert.equal(skipReason({ MANHOLE_AUTO_PARENT: "1", MANHOLE_CHILDREN: "0" }, ["node", "/srv/app/w.js"]), "MANHOLE_CHILDREN=0");
  assert.equal(skipReason({ MANHOLE_AUTO_PARENT: "1" }, ["node", "/srv/app/w.js"]), undefined);
});

test("environment values: converted, checked as startManhole() checks them, bad ones named", async () => {
  const { optionsFromEnv } = await import("../../dist/agent/env-options.js");
  const ok = optionsFromEnv({
    MANHOLE_TIMEOUT: "250",
    MANHOLE_THREADED: "off",
    MANHOLE_BANNER: "",
    MANHOLE_ACTIVATE_ON: "usr2",
    MANHOLE_TCP_PORT: "0",
  });
  assert.deepEqual(ok, { options: { timeout: 250, threaded: false, banner: null, activateOn: "SIGUSR2", tcp: { port: 0 } }, problems: [] });
  const bad = optionsFromEnv({
    MANHOLE_TIMEOUT: "-1",
    MANHOLE_SHARED: "maybe",
    MANHOLE_ACTIVATE_ON: "SIGNOPE",
    MANHOLE_TCP_HOST: "10.0.0.1",
  });
  assert.deepEqual(bad.options, {});
  assert.equal(bad.problems.length, 4);
  assert.match(bad.problems[0], /^MANHOLE_TIMEOUT="-1": must be a positive integer; ignored$/);
  assert.match(bad.problems.join("\n"), /MANHOLE_ACTIVATE_ON="SIGNOPE": option "activateOn" must be the name of a signal/);
  assert.match(bad.problems.join("\n"), /MANHOLE_TCP_\*: MANHOLE_TCP_HOST and MANHOLE_TCP_TOKEN need MANHOLE_TCP_PORT/);
});

test("arguments as options: --flag, --no-flag, --name value, --name=value; bare durations in the declared unit", () => {
  const specs = [
    { name: "window", type: "duration", unit: "s", help: "", default: 5000 },
    { name: "all", type: "boolean", help: "", default: false },
    { name: "limit", type: "number", help: "", default: 50 },
  ];
  assert.deepEqual(parseArgs(specs, "--all"), { window: 5000, all: true, limit: 50 });
  assert.deepEqual(parseArgs(specs, "--all 2"), { window: 2000, all: true, limit: 50 });
  assert.deepEqual(parseArgs(specs, "--no-all --limit 3 500ms"), { window: 500, all: false, limit: 3 });
  assert.deepEqual(parseArgs(specs, "--limit=7 --all=yes"), { window: 5000, all: true, limit: 7 });
  assert.deepEqual(parseArgs(specs, "--limit 4 1.5"), { window: 1500, all: false, limit: 4 });
  assert.throws(() => parseArgs(specs, "--nope"), /unknown option --nope/);
  assert.throws(() => parseArgs(specs, "--limit"), /needs a value/);
  assert.throws(() => parseArgs(specs, "--no-limit"), /not a boolean/);
  assert.equal(parseDurationMs("5", "s"), 5000);
  assert.equal(parseDurationMs("5ms", "s"), 5);
});

test("the observe-only list names the session commands and the diagnostics, from the declarations", () => {
  const list = observeSafeList();
  assert.match(list, /^\.help, \.exit(, \.worker)? and the diagnostics \(\.stack, \.versions, /);
  assert.doesNotMatch(list, /\.break|\.gc/);
  // Session commands take no required argument (.worker's thread is optional: alone it says where the session is).
  for (const op of OPERATIONS)
    if (op.sessionOnly)
      assert.ok(
        op.args.every((a) => a.default !== undefined),
        op.name,
      );
});

test("loopback addresses, told from the text alone", async () => {
  const { isLoopback } = await import("../../dist/shared/loopback.js");
  for (const host of [
    "localhost",
    "127.0.0.1",
    "127.1.2.3",
    "::1",
    "0:0:0:0:0:0:0:1",
    "0000:0000:0000:0000:0000:0000:0000:0001",
    "::ffff:127.0.0.1",
  ]) {
    assert.equal(isLoopback(host), true, host);
  }
  for (const host of ["10.0.0.1", "0.0.0.0", "127.0.0.256", "::", "::2", "::ffff:10.0.0.1", "example.com", "1.127.0.0"]) {
    assert.equal(isLoopback(host), false, host);
  }
});

test("a string argument with choices takes only those words, as listed", () => {
  const specs = [{ name: "state", type: "string", choices: ["on", "off"], help: "", default: "" }];
  assert.deepEqual(parseArgs(specs, "ON"), { state: "on" });
  assert.deepEqual(parseArgs(specs, ""), { state: "" });
  assert.throws(() => parseArgs(specs, "maybe"), /state must be on or off, not "maybe"/);
  assert.deepEqual(argsFromObject(specs, { state: "off" }), { state: "off" });
  assert.throws(() => argsFromObject(specs, { state: "up" }), /state must be on or off/);
});
