// What a user meets first: the app label (banner = ls = exec --all, also through a
// node_modules/.bin link), descriptor names, exec --json alike alone and with --all, _error,
// --signal's refusal of SIGUSR1 and its warnings and hints, ls with nothing to list on a
// terminal, and .help in observe-only mode. Real child apps, the real CLI, real nc.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { connect, MODES, nc, PROMPT, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const cli = (args, dir) => runClient(process.execPath, [CLI, ...args], "", { env: { MANHOLE_DIR: dir } });

/** The label the banner gives: `manhole: pid N, node vX, app <label>, up ...`. */
async function bannerLabel(socket) {
  const { stdout } = await nc(socket, "");
  const m = /^manhole: pid \d+, node v[\d.]+, app (.*), up /.exec(stdout);
  assert.ok(m, stdout);
  return m[1];
}

/** An app script in a fresh directory outside this package (so no package.json above it), started from `run`. */
function outsideApp() {
  const root = tempDir("mh-outside-");
  const script = path.join(root, "server.cjs");
  fs.copyFileSync(path.join(ROOT, "test", "fixtures", "app.cjs"), script);
  const text = fs.readFileSync(script, "utf8").replace("../../dist/agent/index.js", path.join(ROOT, "dist", "agent", "index.js"));
  fs.writeFileSync(script, text);
  return { root, script };
}

for (const mode of MODES) {
  test(`${mode}: the app label is one: banner, ls and exec --all agree, for a script without a package`, async () => {
    const { script } = outsideApp();
    const app = await startApp({ mode, script, args: ["--port", "0"] });
    try {
      const label = await bannerLabel(app.path);
      assert.equal(label, "server.cjs --port 0");
      const ls = JSON.parse((await cli(["ls", "--json"], app.dir)).stdout);
      assert.deepEqual(
        ls.map((e) => e.app),
        [label],
      );
      const all = JSON.parse((await cli(["exec", "--all", "--json", "1"], app.dir)).stdout);
      assert.deepEqual(
        all.map((e) => e.app),
        [label],
      );
    } finally {
      await app.stop();
    }
  });
}

test("an app started through a node_modules/.bin link is labelled by its own package, in the banner and in ls", async () => {
  const { root, script } = outsideApp();
  // root/package.json is the project; root/node_modules/linked-app is the package the link points into.
  fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "the-project", version: "9.9.9" }));
  const pkg = path.join(root, "node_modules", "linked-app");
  fs.mkdirSync(path.join(pkg, "bin"), { recursive: true });
  fs.writeFileSync(path.join(pkg, "package.json"), JSON.stringify({ name: "linked-app", version: "1.2.3" }));
  fs.renameSync(script, path.join(pkg, "bin", "server.cjs"));
  fs.mkdirSync(path.join(root, "node_modules", ".bin"));
  const link = path.join(root, "node_modules", ".bin", "linked-app");
  fs.symlinkSync("../linked-app/bin/server.cjs", link);
  const app = await startApp({ script: link });
  try {
    assert.equal(await bannerLabel(app.path), "linked-app@1.2.3");
    assert.deepEqual(
      JSON.parse((await cli(["ls", "--json"], app.dir)).stdout).map((e) => e.app),
      ["linked-app@1.2.3"],
    );
  } finally {
    await app.stop();
  }
});

test("the first descriptor of a manhole on a custom path is <pid>.json", async () => {
  const runtime = tempDir();
  const socket = path.join(tempDir(), "custom.sock");
  const app = await startApp({ options: { path: socket, banner: null }, env: { MANHOLE_DIR: runtime } });
  try {
    const c = await connect(socket);
    await c.until(PROMPT);
    assert.equal(await c.eval("manholeHandle.descriptorPath"), `'${path.join(runtime, `${app.child.pid}.json`)}'\n`);
    c.end();
    assert.deepEqual(fs.readdirSync(runtime), [`${app.child.pid}.json`]);
  } finally {
    await app.stop();
  }
});

test("exec --json prints the same object, formatted alike, as each element of exec --all --json", async () => {
  const dir = tempDir();
  const app = await startApp({ env: { MANHOLE_DIR: dir } });
  try {
    const code = 'console.log("hi"); ({ n: 1 })';
    const one = await cli(["exec", "--json", String(app.child.pid), code], dir);
    const all = await cli(["exec", "--all", "--json", code], dir);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(all.code, 0, all.stderr);
    const single = JSON.parse(one.stdout);
    assert.deepEqual(Object.keys(single), ["pid", "app", "ok", "value", "text", "output"]);
    assert.equal(one.stdout, `${JSON.stringify(single, null, 2)}\n`);
    assert.deepEqual(JSON.parse(all.stdout), [single]);
    assert.equal(all.stdout, `${JSON.stringify([single], null, 2)}\n`);
  } finally {
    await app.stop();
  }
});

for (const mode of MODES) {
  test(`${mode}: _error holds the last error an input threw, as in Node's REPL`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await connect(app.path);
      await c.until(PROMPT);
      assert.equal(await c.eval("typeof _error"), "'undefined'\n");
      assert.equal(await c.eval("42"), "42\n");
      assert.match(await c.eval("throw new RangeError('far')"), /^Uncaught RangeError: far/);
      assert.equal(await c.eval("_error.message + ' ' + (_error instanceof RangeError) + ' ' + _"), "'far true 42'\n");
      assert.match(await c.eval("await Promise.reject(new TypeError('later'))"), /^Uncaught TypeError: later/);
      assert.equal(await c.eval("_error.message"), "'later'\n");
      c.end();
    } finally {
      await app.stop();
    }
  });
}

test("--signal refuses SIGUSR1 (Node's inspector) and sends nothing", async () => {
  const app = await startApp({ options: { activateOn: "SIGUSR2" } });
  try {
    const r = await cli(["exec", "--signal", "USR1", String(app.child.pid), "1"], app.dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /SIGUSR1 opens Node's inspector/);
    assert.doesNotMatch(app.stderr(), /Debugger listening/);
    assert.equal(app.child.exitCode, null);
  } finally {
    await app.stop();
  }
});

test("--signal warns when the process has no handler for the signal; not when it has", { skip: process.platform !== "linux" }, async () => {
  const app = await startApp({ options: { activateOn: "SIGUSR2" } });
  try {
    // SIGURG's default action is to ignore it: harmless, and no manhole opens.
    const r = await cli(["exec", "--timeout", "300", "--signal", "SIGURG", String(app.child.pid), "1"], app.dir);
    assert.equal(r.code, 7);
    assert.match(r.stderr, new RegExp(`^manhole: warning: process ${app.child.pid} has no handler for SIGURG`));
    const ok = await cli(["exec", "--signal", "SIGUSR2", String(app.child.pid), "6*7"], app.dir);
    assert.deepEqual([ok.stdout, ok.stderr, ok.code], ["42\n", "", 0]);
  } finally {
    await app.stop();
  }
});

test("a pid with no manhole that handles SIGUSR2 gets a hint at --signal", { skip: process.platform !== "linux" }, async () => {
  const app = await startApp({ options: { activateOn: "SIGUSR2" } });
  try {
    const r = await cli(["exec", String(app.child.pid), "1"], app.dir);
    assert.equal(r.code, 4);
    assert.match(
      r.stderr,
      /has no manhole .*; it handles SIGUSR2: if it opens its manhole on that signal \(activateOn\), add --signal SIGUSR2\n$/,
    );
    // A plain Node process handles only Node's own signals: no hint. (Not this test process:
    // the test runner of newer Node versions handles signals of its own.)
    const plain = spawn(process.execPath, ["-e", "const p = process.ppid; setInterval(() => process.ppid !== p && process.exit(), 500)"], {
      stdio: "ignore",
    });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const other = await cli(["exec", String(plain.pid), "1"], app.dir);
      assert.equal(other.code, 4);
      assert.doesNotMatch(other.stderr, /--signal/);
    } finally {
      plain.kill("SIGKILL");
    }
  } finally {
    await app.stop();
  }
});

test("ls with nothing to list says so on a terminal, prints nothing when piped, and [] with --json", async () => {
  const dir = tempDir();
  const piped = await cli(["ls"], dir);
  assert.deepEqual([piped.stdout, piped.stderr, piped.code], ["", "", 0]);
  assert.deepEqual((await cli(["ls", "--json"], dir)).stdout, "[]\n");
  const tty = spawnSync("script", ["-qec", `${process.execPath} ${CLI} ls`, "/dev/null"], {
    env: { ...process.env, MANHOLE_DIR: dir },
    encoding: "utf8",
  });
  if (tty.error) return; // no script(1) here
  assert.equal(tty.stdout.replace(/\r/g, ""), `no manholes in ${dir}\n`);
});

for (const mode of MODES) {
  test(`${mode}: .help in observe-only mode lists only the diagnostics and does not invite evaluation`, async () => {
    const app = await startApp({ mode, options: { banner: null, observeOnly: true } });
    try {
      const { stdout } = await nc(app.path, ".help\n");
      assert.match(stdout, /\.stack /);
      assert.match(stdout, /This manhole is observe-only: evaluation is disabled\./);
      assert.doesNotMatch(stdout, /Anything else is JavaScript|evaluated/);
    } finally {
      await app.stop();
    }
  });
}
