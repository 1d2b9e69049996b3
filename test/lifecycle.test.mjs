// close(), process exit, several manholes in one process, and never keeping the app alive.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { connect, httpGet, MODES, nc, ROOT, requireTool, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const fixture = (name) => path.join(ROOT, "test", "fixtures", name);
const exists = (p) => {
  try {
    fs.lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

/** Resolves once `text` appears in the app's stdout (polls; fails after 10 s with what was seen). */
async function waitForStdout(app, text) {
  for (let i = 0; i < 200; i++) {
    if (app.stdout().includes(text)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no ${JSON.stringify(text)} in stdout: ${app.stdout()} ${app.stderr()}`);
}

/** Connecting fails (the socket is gone or nobody listens). */
function refusesConnections(socketPath) {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });
}

for (const mode of MODES) {
  test(`${mode}: close() says goodbye to open sessions, stops listening, removes socket and descriptor`, async () => {
    const app = await startApp({ mode, script: fixture("close-on-signal.cjs"), options: { banner: null } });
    try {
      const descriptor = path.join(app.dir, `${app.child.pid}.json`);
      assert.ok(exists(app.path) && exists(descriptor));
      const a = await connect(app.path);
      const b = await connect(app.path);
      await a.until(">>> ");
      await b.until(">>> ");
      assert.equal(await a.eval("40+2"), "42\n");
      app.child.kill("SIGUSR2");
      await waitForStdout(app, "CLOSED\n");
      for (const s of [a, b]) {
        await s.closed();
        assert.match(s.rest(), /manhole: closing, goodbye\n$/);
      }
      assert.ok(!exists(app.path), "socket file removed");
      assert.ok(!exists(descriptor), "descriptor removed");
      assert.ok(await refusesConnections(app.path), "no longer listening");
      // The app itself carries on.
      assert.equal(app.child.exitCode, null);
      assert.equal(app.child.signalCode, null);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: await manholeHandle.close() from a session closes that session too and removes the files`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const descriptor = path.join(app.dir, `${app.child.pid}.json`);
      const other = await connect(app.path);
      await other.until(">>> ");
      const { stdout } = await nc(app.path, 'await manholeHandle.close(); process.stdout.write("CLOSED\\n")\n');
      assert.match(stdout, /^>>> /);
      assert.match(stdout, /manhole: closing, goodbye\n/);
      await other.closed();
      assert.match(other.rest(), /manhole: closing, goodbye\n$/);
      // close() resolves once everything is cleaned up (the goodbyes come first).
      await waitForStdout(app, "CLOSED\n");
      assert.ok(!exists(app.path), "socket file removed");
      assert.ok(!exists(descriptor), "descriptor removed");
      assert.ok(await refusesConnections(app.path));
      assert.equal(app.child.exitCode, null, "the app is still running");
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: process.exit(0) removes the socket and the descriptor`, async () => {
    const app = await startApp({ mode });
    const descriptor = path.join(app.dir, `${app.child.pid}.json`);
    assert.ok(exists(app.path) && exists(descriptor));
    await nc(app.path, "process.exit(0)\n");
    assert.deepEqual(await app.exit, { code: 0, signal: null });
    assert.ok(!exists(app.path), "socket file removed");
    assert.ok(!exists(descriptor), "descriptor removed");
    assert.deepEqual(
      fs.readdirSync(app.dir).filter((f) => f.startsWith(String(app.child.pid))),
      [],
    );
  });

  test(`${mode}: the app exits by itself when its work is done, and cleans up`, async () => {
    const app = await startApp({ mode, script: fixture("natural-exit.cjs") });
    const { code, signal } = await Promise.race([
      app.exit,
      new Promise((r) => setTimeout(() => r({ code: "still running after 15 s", signal: null }), 15_000)),
    ]);
    if (app.child.exitCode === null && app.child.signalCode === null) await app.stop();
    assert.equal(code, 0, `exit code (stderr: ${app.stderr()})`);
    assert.equal(signal, null);
    assert.match(app.stdout(), /DONE\n/);
    const descriptor = /^DESCRIPTOR (\S+)$/m.exec(app.stdout())[1];
    assert.equal(descriptor, path.join(app.dir, `${app.child.pid}.json`));
    assert.ok(!exists(app.path), "socket file removed");
    assert.ok(!exists(descriptor), "descriptor removed");
  });

  test(`${mode}: several manholes with different paths in one process`, async () => {
    const dir = tempDir();
    const paths = [path.join(dir, "one.sock"), path.join(dir, "two.sock")];
    const app = await startApp({
      mode,
      script: fixture("two-manholes.cjs"),
      env: { MANHOLE_DIR: dir, MANHOLE_TEST_PATHS: JSON.stringify(paths) },
    });
    try {
      assert.equal(app.path, paths[0]);
      assert.match(app.stdout(), new RegExp(`^SECOND ${paths[1]}$`, "m"));
      const [r1, r2] = await Promise.all([nc(paths[0], "which\nprocess.pid\n"), nc(paths[1], "which\nprocess.pid\n")]);
      assert.equal(r1.stdout, `>>> 1\n>>> ${app.child.pid}\n>>> `);
      assert.equal(r2.stdout, `>>> 2\n>>> ${app.child.pid}\n>>> `);
      // One descriptor per manhole, each naming its own socket.
      const descs = fs
        .readdirSync(dir)
        .filter((f) => f.startsWith(`${app.child.pid}`) && f.endsWith(".json"))
        .map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")));
      assert.deepEqual(descs.map((d) => d.socket).sort(), [...paths].sort());
      // Closing one leaves the other answering.
      const { stdout } = await nc(paths[1], "await manholes[0].close()\n");
      assert.match(stdout, /^>>> /);
      assert.ok(!exists(paths[0]));
      assert.ok(exists(paths[1]));
      const again = await nc(paths[1], "which\n");
      assert.equal(again.stdout, ">>> 2\n>>> ");
      // Exit removes the rest.
      await nc(paths[1], "process.exit(0)\n");
      assert.deepEqual(await app.exit, { code: 0, signal: null });
      assert.deepEqual(
        fs.readdirSync(dir).filter((f) => !f.startsWith(".")),
        [],
      );
    } finally {
      await app.stop();
    }
  });
}

for (const mode of MODES) {
  test(`${mode}: oneshot serves one connection, then closes and cleans up; with activateOn, one per signal`, async () => {
    const app = await startApp({ mode, options: { oneshot: true, banner: null } });
    try {
      const c = await connect(app.path);
      assert.equal(await c.until(">>> "), ">>> ");
      assert.equal(fs.existsSync(app.path), false, "nobody else gets in: the socket file is gone at once");
      await assert.rejects(connect(app.path), /ENOENT/);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
      await c.closed();
      const until = Date.now() + 5000;
      while (fs.readdirSync(app.dir).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(fs.readdirSync(app.dir), [], "socket and descriptor removed");
      assert.match(await httpGet(app.port), /ok \d+/);
    } finally {
      await app.stop();
    }

    const signalled = await startApp({ mode, options: { oneshot: true, banner: null, activateOn: "SIGUSR2" } });
    try {
      for (let round = 0; round < 2; round++) {
        signalled.child.kill("SIGUSR2");
        const until = Date.now() + 5000;
        while (!fs.existsSync(signalled.path) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
        const c = await connect(signalled.path);
        assert.equal(await c.until(">>> "), ">>> ");
        assert.equal(await c.eval(`'round ' + ${round}`), `'round ${round}'\n`);
        c.end();
        await c.closed();
        const gone = Date.now() + 5000;
        while (fs.existsSync(signalled.path) && Date.now() < gone) await new Promise((r) => setTimeout(r, 25));
        assert.equal(fs.existsSync(signalled.path), false);
      }
    } finally {
      await signalled.stop();
    }
  });
}

test("close() after sessions that evaluated nothing takes containment away: the app's process is as before", async () => {
  const dir = tempDir();
  // The app opens a manhole, a session of its own sends one input that evaluates nothing (the
  // main thread's evaluator and containment are made at a session's first message), then closes it.
  const script = `
    const { startManhole } = require(${JSON.stringify(path.join(ROOT, "dist", "agent", "index.js"))});
    const net = require("node:net");
    const [, input, mode] = process.argv;
    const emit = process.emit;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    (async () => {
      const sock = ${JSON.stringify(dir)} + "/" + process.pid + ".sock";
      const handle = await startManhole({ path: sock, banner: null, threaded: mode === "threaded" });
      const c = net.connect(sock);
      let out = "";
      c.on("data", (d) => { out += d; });
      while (!out.includes(">>> ")) await sleep(20);
      c.write(input);
      while (out.split(">>> ").length < 3) await sleep(20);
      const open = process.listenerCount("uncaughtExceptionMonitor");
      await handle.close();
      await new Promise((r) => setImmediate(r));
      const after = process.listenerCount("uncaughtExceptionMonitor");
      console.log(JSON.stringify({ open, after, emit: process.emit === emit }));
    })();
  `;
  for (const mode of MODES) {
    for (const input of ["\n", ".handles\n"]) {
      const r = spawnSync(process.execPath, ["-e", script, input, mode], { encoding: "utf8", timeout: 20_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { open: 1, after: 0, emit: true }, `${mode}, ${JSON.stringify(input)}`);
    }
  }
});
