// `manhole attach <pid>`: real apps that never load manhole (an ES module and a CommonJS app,
// each serving HTTP), attached to through their inspector by the real CLI, then evaluated in,
// detached from and attached to again, while a request loop checks the app never fails a
// request. Each target gets its own --inspect-port, so nothing here uses 9229.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, test } from "node:test";
import { connect, httpGet, PROMPT, ROOT, runClient, startApp, tempDir, waitForText } from "./helpers.mjs";

const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const ESM_APP = path.join(ROOT, "test", "fixtures", "plain-app.mjs");
const CJS_APP = path.join(ROOT, "test", "fixtures", "plain-app.cjs");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port nothing listens on (the system's choice, released at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Starts a plain app (no manhole) with Node flags `nodeArgs`; resolves once it serves HTTP. */
function startPlain(script, { nodeArgs = [], env = {}, dir = tempDir(), uid } = {}) {
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { ...process.env, MANHOLE_DIR: dir, NODE_OPTIONS: "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(uid === undefined ? {} : { uid, gid: uid, cwd: "/" }),
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
  const exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app did not start: ${out} ${err}`)), 10_000);
    child.stdout.on("data", () => {
      const m = /^LISTENING (\d+)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        child,
        pid: child.pid,
        dir,
        port: Number(m[1]),
        stderr: () => err,
        stdout: () => out,
        alive: () => child.exitCode === null && child.signalCode === null,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          await exit;
        },
      });
    });
    child.on("exit", () => {
      clearTimeout(timer);
      reject(new Error(`app exited before LISTENING: ${out} ${err}`));
    });
  });
}

const cli = (app, args, input = "", env = {}) =>
  runClient(process.execPath, [MAIN, ...args], input, { env: { MANHOLE_DIR: app.dir, ...env } });

/** GETs the app's page back to back until stopped; counts answers and failures. */
function requestLoop(port) {
  const state = { ok: 0, failed: [], running: true };
  state.done = (async () => {
    while (state.running) {
      try {
        const answer = await httpGet(port);
        if (/^HTTP\/1\.[01] 200/.test(answer) && /hits \d+/.test(answer)) state.ok++;
        else state.failed.push(answer.slice(0, 80));
      } catch (err) {
        state.failed.push(err.message);
      }
      await sleep(2);
    }
  })();
  state.stop = async () => {
    state.running = false;
    await state.done;
    return state;
  };
  return state;
}

const filesOf = (app) => fs.readdirSync(app.dir).filter((f) => f.startsWith(`${app.pid}.`) || f.endsWith(".json"));

for (const [kind, script] of [
  ["esm", ESM_APP],
  ["cjs", CJS_APP],
]) {
  describe(`attach to a ${kind} app that never loaded manhole`, () => {
    test("attach, evaluate its state, detach, attach again: the app serves throughout", async () => {
      const inspectPort = await freePort();
      const app = await startPlain(script, { nodeArgs: [`--inspect-port=${inspectPort}`] });
      const loop = requestLoop(app.port);
      try {
        const first = await cli(app, ["attach", "--no-connect", String(app.pid)]);
        assert.equal(first.code, 0, first.stderr);
        const socket = path.join(app.dir, `${app.pid}.sock`);
        assert.equal(first.stdout, `${socket}\n`);
        // The steps, in order, with the port's window.
        assert.match(
          first.stderr,
          new RegExp(
            `sent SIGUSR1 to ${app.pid}\\n.*inspector listening on 127\\.0\\.0\\.1:${inspectPort}\\n.*connected to the inspector\\n` +
              `.*it is process ${app.pid}'s; ran the agent's attach .*\\n.*closed the inspector: 127\\.0\\.0\\.1:${inspectPort} was open for at most [\\d.]+ ms\\n` +
              `.*manhole listening on ${socket.replace(/[.]/g, "\\.")}`,
          ),
        );
        assert.equal(await portOpen(inspectPort), false, "the inspector is closed again");
        await waitForText(app.stderr, /Debugger listening on ws:\/\/127\.0\.0\.1/); // Node's own line, on the app's stderr

        // A value only the app has, through the new manhole.
        const kindOut = await cli(app, ["exec", String(app.pid), "plainState.kind"]);
        assert.equal(kindOut.code, 0, kindOut.stderr);
        assert.equal(kindOut.stdout, `'${kind}'\n`);
        const hits = await cli(app, ["exec", String(app.pid), "plainState.hits > 0"]);
        assert.equal(hits.stdout, "true\n");

        // Attaching again finds it and does not signal.
        const again = await cli(app, ["attach", "--no-connect", String(app.pid)]);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(again.stdout, `${socket}\n`);
        assert.match(again.stderr, /it has a manhole already .*: no inspector opened/);
        assert.doesNotMatch(again.stderr, /SIGUSR1/);

        // Detach: files gone, the app serves on, the inspector closed.
        const detach = await cli(app, ["attach", "--detach", String(app.pid)]);
        assert.equal(detach.code, 0, detach.stderr);
        assert.match(detach.stderr, /ran the agent's detach/);
        assert.match(detach.stderr, /removed: the manhole is closed, .* and its descriptor are gone/);
        assert.deepEqual(filesOf(app), []);
        assert.equal(await portOpen(inspectPort), false);
        assert.match(await httpGet(app.port), /hits \d+/);
        const none = await cli(app, ["exec", String(app.pid), "1"]);
        assert.equal(none.code, 4, none.stderr);

        // And again, this time connecting (stdin piped: one input, its result, EOF).
        const second = await cli(app, ["attach", String(app.pid)], "plainState.kind + ':' + process.pid\n");
        assert.equal(second.code, 0, second.stderr);
        assert.equal(second.stdout, `'${kind}:${app.pid}'\n`);
        assert.match(second.stderr, /closed the inspector/);
        const stillThere = await cli(app, ["exec", String(app.pid), "typeof plainState"]);
        assert.equal(stillThere.stdout, "'object'\n");
      } finally {
        const state = await loop.stop();
        await app.stop();
        assert.deepEqual(state.failed, [], "no request failed");
        assert.ok(state.ok > 0, "the loop got answers");
      }
    });
  });
}

/** Why the other-user test cannot run here, or false: it needs root, and a Node and fixtures that user nobody can reach. */
function otherUserSkip() {
  if (process.geteuid?.() !== 0) return "needs root to start a process as another user";
  const reachable = (file) => {
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      if ((fs.statSync(dir).mode & 0o001) === 0) return false;
      if (dir === path.dirname(dir)) return (fs.statSync(file).mode & 0o004) !== 0;
    }
  };
  return !(reachable(process.execPath) && reachable(ESM_APP)) && "user nobody cannot run this Node or read the fixtures";
}

/** Why a network namespace of its own cannot be made here, or false. */
function unshareSkip() {
  const r = spawnSync("unshare", ["-n", "true"]);
  return r.status !== 0 && "unshare -n is not available (needs root)";
}

describe("attach: options and refusals", () => {
  test("options reach the manhole: --observe-only, --no-threaded, --path", async () => {
    const inspectPort = await freePort();
    const app = await startPlain(CJS_APP, { nodeArgs: [`--inspect-port=${inspectPort}`] });
    try {
      const socket = path.join(app.dir, "custom.sock");
      const r = await cli(app, ["attach", "--no-connect", "--observe-only", "--no-threaded", "--path", socket, String(app.pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${socket}\n`);
      const refused = await cli(app, ["exec", socket, "1 + 1"]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /observe-only/);
      const detach = await cli(app, ["attach", "--detach", String(app.pid)]);
      assert.equal(detach.code, 0, detach.stderr);
      assert.equal(fs.existsSync(socket), false);
    } finally {
      await app.stop();
    }
  });

  test("detach ends the sessions of the manhole it removes", async () => {
    const app = await startPlain(ESM_APP, { nodeArgs: [`--inspect-port=${await freePort()}`] });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 0, r.stderr);
      const session = await connect(r.stdout.trim());
      await session.until(PROMPT);
      assert.equal(await session.eval("plainState.kind"), "'esm'\n");
      const detach = await cli(app, ["attach", "--detach", String(app.pid)]);
      assert.equal(detach.code, 0, detach.stderr);
      await session.closed();
      assert.match(session.rest(), /closing/i);
      assert.deepEqual(filesOf(app), []);
    } finally {
      await app.stop();
    }
  });

  test("a blocked event loop: the agent loads, the inspector closes, the manhole listens once the loop turns", async () => {
    const inspectPort = await freePort();
    const unblock = path.join(tempDir(), "unblock");
    const app = await startPlain(path.join(ROOT, "test", "fixtures", "attach-blocker.cjs"), {
      nodeArgs: [`--inspect-port=${inspectPort}`],
      env: { UNBLOCK_FILE: unblock },
    });
    try {
      app.child.kill("SIGUSR2");
      await waitForText(app.stdout, /^BLOCKED$/m);
      const r = await cli(app, ["attach", "--no-connect", "--wait", "1000", String(app.pid)]);
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /ran the agent's attach/);
      assert.match(r.stderr, /closed the inspector/);
      assert.match(r.stderr, /the loop may be blocked \(it will listen once the loop turns/);
      assert.equal(await portOpen(inspectPort), false);
      fs.writeFileSync(unblock, "");
      const socket = path.join(app.dir, `${app.pid}.sock`);
      await waitForText(() => (fs.existsSync(socket) ? "there" : ""), /there/);
      const again = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /it has a manhole already/);
      assert.equal((await cli(app, ["exec", String(app.pid), "plainState.kind"])).stdout, "'blocker'\n");
    } finally {
      await app.stop();
    }
  });

  test("the inspector's port taken by another listener: refused before any signal", async () => {
    const blocker = net.createServer((s) => s.destroy());
    await new Promise((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const taken = blocker.address().port;
    const app = await startPlain(ESM_APP, { nodeArgs: [`--inspect-port=${taken}`] });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${taken} is taken by process ${process.pid}, .*not signalled`));
      await sleep(100);
      assert.doesNotMatch(app.stderr(), /Debugger/);
      assert.deepEqual(filesOf(app), []);
      assert.match(await httpGet(app.port), /hits/);
    } finally {
      blocker.close();
      await app.stop();
    }
  });

  test("the --inspect-port option names where to look", async () => {
    const inspectPort = await freePort();
    const app = await startPlain(ESM_APP, { env: { NODE_OPTIONS: `--inspect-port=${inspectPort}` } });
    try {
      // NODE_OPTIONS is read from the process's environment: found without the option.
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`inspector listening on 127\\.0\\.0\\.1:${inspectPort}`));
      const detached = await cli(app, ["attach", "--detach", String(app.pid)]);
      assert.equal(detached.code, 0, detached.stderr);
      // The next step reads an inspector open before its signal as the app's own: this one must be shut.
      assert.doesNotMatch(detached.stderr, /WARNING: the inspector .* still listens/);
      for (let i = 0; i < 100 && (await portOpen(inspectPort)); i++) await new Promise((r) => setTimeout(r, 50));
      // A wrong --inspect-port: the inspector opens elsewhere; a clear timeout, then the app runs on.
      const wrong = await freePort();
      const w = await cli(app, ["attach", "--no-connect", "--wait", "500", "--inspect-port", String(wrong), String(app.pid)]);
      assert.equal(w.code, 7, w.stderr);
      assert.match(w.stderr, new RegExp(`no inspector answered on 127\\.0\\.0\\.1:${wrong} within 500 ms of SIGUSR1`));
      // It opened on its own port, and was closed again.
      assert.match(
        w.stderr,
        new RegExp(`it opened on 127\\.0\\.0\\.1:${inspectPort} instead \\(its process\\.debugPort\\): closed it again, nothing loaded`),
      );
      assert.equal(await portOpen(inspectPort), false);
      assert.deepEqual(filesOf(app), []);
      assert.match(await httpGet(app.port), /hits/);
    } finally {
      await app.stop();
    }
  });

  test("an inspector open already (--inspect=host:port): refused; --reuse-inspector uses it and leaves it open", async () => {
    const inspectPort = await freePort();
    const app = await startPlain(CJS_APP, { nodeArgs: [`--inspect=127.0.0.1:${inspectPort}`] });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(
          `inspector is open already on 127\\.0\\.0\\.1:${inspectPort} \\(--inspect=127\\.0\\.0\\.1:${inspectPort}\\); not touched`,
        ),
      );
      assert.deepEqual(filesOf(app), []);

      const reuse = await cli(app, ["attach", "--no-connect", "--reuse-inspector", String(app.pid)]);
      assert.equal(reuse.code, 0, reuse.stderr);
      assert.doesNotMatch(reuse.stderr, /SIGUSR1/);
      assert.match(reuse.stderr, /left its inspector open/);
      assert.equal(await portOpen(inspectPort), true);
      assert.equal((await cli(app, ["exec", String(app.pid), "plainState.kind"])).stdout, "'cjs'\n");
      const detach = await cli(app, ["attach", "--detach", "--reuse-inspector", String(app.pid)]);
      assert.equal(detach.code, 0, detach.stderr);
      assert.equal(await portOpen(inspectPort), true, "still open, as found");
      assert.deepEqual(filesOf(app), []);
    } finally {
      await app.stop();
    }
  });

  test("an inspector open already on a port of its own (--inspect=0): refused; --reuse-inspector finds it", async () => {
    const app = await startPlain(ESM_APP, { nodeArgs: ["--inspect=0"] });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /has its inspector open already \(--inspect=0\); not touched: --reuse-inspector/);
      const reuse = await cli(app, ["attach", "--no-connect", "--reuse-inspector", String(app.pid)]);
      assert.equal(reuse.code, 0, reuse.stderr);
      assert.match(reuse.stderr, /its inspector is open already on 127\.0\.0\.1:\d+ \(--inspect=0\): reusing it/);
      assert.equal((await cli(app, ["exec", String(app.pid), "plainState.kind"])).stdout, "'esm'\n");
    } finally {
      await app.stop();
    }
  });

  test("an inspector the app opened itself on another port: said, not touched", async () => {
    const own = await freePort();
    const app = await startPlain(CJS_APP, {
      nodeArgs: [`--inspect-port=${await freePort()}`, "--require", path.join(ROOT, "test", "fixtures", "open-inspector.cjs")],
      env: { OPEN_INSPECTOR_PORT: String(own) },
    });
    try {
      const r = await cli(app, ["attach", "--no-connect", "--wait", "500", String(app.pid)]);
      assert.equal(r.code, 7, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `its inspector was open already, on 127\\.0\\.0\\.1:${own} \\(the app or a debugger opened it\\): not touched \\(--reuse-inspector --inspect-port ${own} uses it\\)`,
        ),
      );
      assert.equal(await portOpen(own), true);
      const reuse = await cli(app, ["attach", "--no-connect", "--reuse-inspector", "--inspect-port", String(own), String(app.pid)]);
      assert.equal(reuse.code, 0, reuse.stderr);
      assert.equal((await cli(app, ["exec", String(app.pid), "plainState.kind"])).stdout, "'cjs'\n");
      assert.equal(await portOpen(own), true);
    } finally {
      await app.stop();
    }
  });

  test("a manhole the app started itself: attach connects; --detach leaves it", async () => {
    const inspectPort = await freePort();
    const app = await startApp({ env: { NODE_OPTIONS: `--inspect-port=${inspectPort}` } });
    const pid = app.child.pid;
    try {
      const r = await cli(app, ["attach", "--no-connect", String(pid)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${app.path}\n`);
      assert.match(r.stderr, /it has a manhole already/);
      const d = await cli(app, ["attach", "--detach", String(pid)]);
      assert.equal(d.code, 1);
      assert.match(d.stderr, /was not opened by manhole attach \(the app started it\): not removed/);
      assert.match(d.stderr, /closed the inspector/);
      assert.equal((await cli(app, ["exec", String(pid), "1 + 1"])).stdout, "2\n");
    } finally {
      await app.stop();
    }
  });

  test("no such process, not a Node.js process, bad usage, nothing to detach", async () => {
    const dir = tempDir();
    const app = { dir };
    const gone = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => gone.on("exit", resolve));
    const r = await cli(app, ["attach", String(gone.pid)]);
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `manhole: no such process: ${gone.pid}\n`);

    const sleeper = spawn("sleep", ["30"]);
    try {
      const s = await cli(app, ["attach", String(sleeper.pid)]);
      assert.equal(s.code, 1);
      assert.match(s.stderr, new RegExp(`process ${sleeper.pid} is not a Node\\.js process \\(.*sleep\\); not signalled`));
      assert.equal(sleeper.exitCode, null);
      assert.equal(sleeper.signalCode, null);
    } finally {
      sleeper.kill();
    }

    for (const args of [[], ["abc"], ["1", "2"], ["--bogus", "1"], ["--detach", "--observe-only", "1"], ["--wait", "0", "1"]]) {
      const u = await cli(app, ["attach", ...args]);
      assert.equal(u.code, 2, `${args}: ${u.stderr}`);
      assert.match(u.stderr, /^manhole: /);
    }
    const plain = await startPlain(CJS_APP, { dir });
    try {
      const d = await cli(plain, ["attach", "--detach", String(plain.pid)]);
      assert.equal(d.code, 4);
      assert.match(d.stderr, new RegExp(`process ${plain.pid} has no manhole`));
      assert.doesNotMatch(plain.stderr(), /Debugger/);
    } finally {
      await plain.stop();
    }
  });

  test("another user's process: refused, not signalled", { skip: otherUserSkip() }, async () => {
    const app = await startPlain(ESM_APP, { uid: 65534, dir: "/tmp" });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 5);
      assert.match(r.stderr, new RegExp(`process ${app.pid} runs as uid 65534, not as uid 0: attach as its user .*not signalled`));
      await sleep(100);
      assert.doesNotMatch(app.stderr(), /Debugger/);
    } finally {
      await app.stop();
    }
  });

  test("a process in another network namespace: refused, not signalled", { skip: unshareSkip() }, async () => {
    const dir = tempDir();
    const child = spawn("unshare", ["-n", process.execPath, ESM_APP], {
      env: { ...process.env, MANHOLE_DIR: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
    try {
      await waitForText(() => out, /^LISTENING \d+$/m);
      const r = await cli({ dir }, ["attach", "--no-connect", String(child.pid)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`process ${child.pid} is in another network namespace .*; not signalled`));
      await sleep(100);
      assert.doesNotMatch(err, /Debugger/);
    } finally {
      child.kill("SIGKILL");
    }
  });

  test("a process started with --disable-sigusr1: a clear refusal, and it runs on", {
    skip: !process.allowedNodeEnvironmentFlags.has("--disable-sigusr1") && "this Node has no --disable-sigusr1",
  }, async () => {
    const app = await startPlain(CJS_APP, { nodeArgs: ["--disable-sigusr1", `--inspect-port=${await freePort()}`] });
    try {
      const r = await cli(app, ["attach", "--no-connect", String(app.pid)]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /was started with --disable-sigusr1: its inspector cannot be opened from outside/);
      assert.match(await httpGet(app.port), /hits/);
    } finally {
      await app.stop();
    }
  });
});
