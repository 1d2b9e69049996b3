// Shutdown is the app's: SIGTERM, SIGINT and SIGHUP end an app with a manhole exactly as they
// end the same app without one (exit code or signal, its handlers called once, a blocked loop
// still killed), the files go on a normal exit and when the app's handler exits, and files left
// by a death that runs no JavaScript (a default signal action, SIGKILL) are cleaned up later.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { MODES, nc, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const SCRIPT = path.join(ROOT, "test", "fixtures", "signals.cjs");
const CLI = path.join(ROOT, "dist", "cli", "main.js");
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"];

const exists = (p) => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

function start(mode, env, options = {}) {
  return startApp({ mode, script: SCRIPT, env, options });
}

/** Signals the app once it is ready; resolves to how it ended and what it printed. */
async function ending(app, sig) {
  app.child.kill(sig);
  const end = await app.exit;
  return { ...end, stdout: app.stdout().replace(/^READY .*\n/m, "") };
}

/** The same app, with and without a manhole, ended by `sig`: how each ended. */
async function compare(mode, sig, env) {
  const [withManhole, without] = await Promise.all([start(mode, env), start(mode, { ...env, WITH_MANHOLE: "0" })]);
  const files = [withManhole.path, path.join(withManhole.dir, `${withManhole.child.pid}.json`)];
  assert.ok(files.every(exists), "socket and descriptor exist while it runs");
  const [a, b] = await Promise.all([ending(withManhole, sig), ending(without, sig)]);
  return { a, b, files, dir: withManhole.dir };
}

for (const mode of MODES) {
  for (const sig of SIGNALS) {
    test(`${mode}: ${sig} with no handler ends the app by the signal, as without a manhole; ls then removes what it left`, async () => {
      const { a, b, files, dir } = await compare(mode, sig, { SIGNAL_HANDLER: "none" });
      assert.deepEqual({ code: a.code, signal: a.signal }, { code: null, signal: sig });
      assert.deepEqual({ code: a.code, signal: a.signal }, { code: b.code, signal: b.signal });
      // Node's default action ran no JavaScript: the files are stale, and discovery removes them.
      const ls = await runClient(process.execPath, [CLI, "ls", "--json"], "", { env: { MANHOLE_DIR: dir } });
      assert.equal(ls.code, 0, ls.stderr);
      assert.deepEqual(JSON.parse(ls.stdout), []);
      assert.deepEqual(files.filter(exists), [], "stale socket and descriptor removed by ls");
    });

    test(`${mode}: ${sig} with the app's handler: called once, its exit code, the files removed`, async () => {
      const { a, b, files } = await compare(mode, sig, { SIGNAL_HANDLER: "exit" });
      assert.deepEqual(a, { code: 7, signal: null, stdout: `handled ${sig}\n` });
      assert.deepEqual(a, b);
      assert.deepEqual(files.filter(exists), []);
    });
  }

  test(`${mode}: a handler that ignores the signals keeps the app and its manhole running`, async () => {
    const app = await start(mode, { SIGNAL_HANDLER: "ignore" });
    try {
      for (const sig of SIGNALS) app.child.kill(sig);
      for (
        let i = 0;
        i < 100 &&
        app
          .stdout()
          .split("\n")
          .filter((l) => l.startsWith("ignored ")).length < 3;
        i++
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.deepEqual(
        app
          .stdout()
          .match(/^ignored \w+$/gm)
          ?.sort(),
        SIGNALS.map((s) => `ignored ${s}`).sort(),
      );
      const { stdout } = await nc(app.path, "6 * 7\n");
      assert.match(stdout, /^>>> 42$/m);
      assert.equal(app.child.exitCode, null);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: SIGTERM kills an app whose event loop is blocked, as without a manhole`, async () => {
    const { a, b } = await compare(mode, "SIGTERM", { SIGNAL_HANDLER: "none", BLOCK: "1" });
    assert.equal(a.signal, "SIGTERM");
    assert.deepEqual({ code: a.code, signal: a.signal }, { code: b.code, signal: b.signal });
  });
}

test("files left by SIGKILL: the next start on the same path replaces the socket; ls removes the dead descriptor", async () => {
  const dir = tempDir();
  const socket = path.join(dir, "app.sock");
  const first = await start("threaded", { MANHOLE_DIR: dir }, { path: socket });
  const firstDescriptor = path.join(dir, `${first.child.pid}.json`);
  first.child.kill("SIGKILL");
  await first.exit;
  assert.ok(exists(socket) && exists(firstDescriptor), "SIGKILL runs nothing: the files stay");

  const second = await start("threaded", { MANHOLE_DIR: dir }, { path: socket });
  try {
    assert.equal(second.path, socket);
    const { stdout } = await nc(socket, "process.pid\n");
    assert.match(stdout, new RegExp(`^>>> ${second.child.pid}$`, "m"), "the socket is the new process's");
    const ls = await runClient(process.execPath, [CLI, "ls", "--json"], "", { env: { MANHOLE_DIR: dir } });
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((e) => e.pid),
      [second.child.pid],
    );
    assert.ok(!exists(firstDescriptor), "the dead process's descriptor is removed");
  } finally {
    await second.stop();
  }
});
