// Nothing typed into the manhole crashes the host (short of an explicit process.exit/abort/kill):
// runaway loops, never-settling awaits, unhandled rejections, throws in callbacks that manhole
// code hands to any Node API, hostile values. And the app's own unhandled rejections and
// uncaught exceptions behave as without a manhole.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { connect, evalNumber, httpGet, MODES, openSession as open, PROMPT, ROOT, startApp, sync, tempDir } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const REJECTION_APP = path.join(ROOT, "test", "fixtures", "app-rejection.cjs");
const THROW_APP = path.join(ROOT, "test", "fixtures", "app-throw.cjs");

const count = (text, needle) => text.split(needle).length - 1;

/** The app still runs: its timers tick, its HTTP server answers, the session evaluates. */
async function assertAppAlive(app, c) {
  assert.equal(app.child.exitCode, null, `app exited; stderr: ${app.stderr()}`);
  const t0 = await evalNumber(c, "app.ticks");
  await sleep(150);
  const t1 = await evalNumber(c, "app.ticks");
  assert.ok(t1 > t0, `app.ticks did not advance (${t0} -> ${t1})`);
  assert.match(await httpGet(app.port), /^HTTP\/1\.[01] 200/);
  assert.equal(await c.eval("1+1"), "2\n");
}

/** Runs the rejection fixture to its end; resolves to { code, signal, stdout, stderr }. */
function runToExit(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [REJECTION_APP], {
      env: { ...process.env, MANHOLE_DIR: tempDir(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fixture did not exit; stdout: ${stdout} stderr: ${stderr}`));
    }, 15_000);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The error report Node prints, from "Error: app boom" on (the source excerpt above it names the thrower). */
const errorReport = (stderr) => stderr.slice(stderr.indexOf("Error: app boom"));

/**
 * Callbacks that manhole code hands to Node APIs other than timers, and listeners it adds to
 * streams it opens: each throws once. [input, what the session is told]
 */
const CALLBACK_CASES = [
  ['require("fs").readFile("/nonexistent", (err) => { throw err }); "scheduled"', "Uncaught Error: ENOENT: no such file or directory"],
  ['require("fs").stat("/", () => { throw new Error("stat cb") })', "Uncaught Error: stat cb"],
  ['require("dns").lookup("localhost", () => { throw new Error("lookup cb") })', "Uncaught Error: lookup cb"],
  ['require("child_process").exec("true", () => { throw new Error("exec cb") })', "Uncaught Error: exec cb"],
  [
    'require("fs").createReadStream(process.argv[1]).on("data", () => { throw new Error("data listener") })',
    "Uncaught Error: data listener",
  ],
  [
    'require("fs").createReadStream(process.argv[1]).resume().on("end", () => { throw new Error("end listener") })',
    "Uncaught Error: end listener",
  ],
  [
    'sock = require("net").connect(server.address().port, "127.0.0.1", () => sock.end("GET / HTTP/1.0\\r\\n\\r\\n")); sock.on("data", () => { throw new Error("socket data") }); 0',
    "Uncaught Error: socket data",
  ],
  // Work started from a contained callback is contained too.
  [
    'require("fs").stat("/", () => require("dns").lookup("localhost", () => { throw new Error("nested cb") }))',
    "Uncaught Error: nested cb",
  ],
  ['void (async () => { await null; require("fs").stat("/", () => { throw new Error("after await") }) })()', "Uncaught Error: after await"],
];

/** Starts the throwing fixture, lets `prepare(app)` run, sends SIGUSR2; resolves to { code, signal, stdout, stderr }. */
async function throwRun({ mode = "threaded", env = {}, prepare = async () => {} } = {}) {
  const app = await startApp({ mode, script: THROW_APP, env });
  try {
    await prepare(app);
    app.child.kill("SIGUSR2");
    // With a listener of its own the app lives on: the caller looks and stops it.
    if (env.MANHOLE_FIXTURE_LISTENER === "1") return { app };
    const exited = await Promise.race([app.exit, sleep(10_000).then(() => ({ code: null, signal: "did not exit" }))]);
    return { ...exited, stdout: app.stdout(), stderr: app.stderr() };
  } finally {
    if (env.MANHOLE_FIXTURE_LISTENER !== "1") await app.stop();
  }
}

/** Leaves manhole work pending in the app (so that containment is on) and one contained throw behind. */
async function leavePendingWork(app) {
  const c = await open(app);
  c.send('setInterval(() => {}, 1000); require("fs").stat("/", () => { throw new Error("mine") })\n');
  await c.until("Uncaught Error: mine");
  await sync(c);
  return c;
}

let reference;
async function referenceRun() {
  reference ??= runToExit({ MANHOLE_FIXTURE_NO_MANHOLE: "1" });
  return reference;
}

for (const mode of MODES) {
  test(`${mode}: while (true) {} is interrupted after timeout and the app carries on`, async () => {
    const app = await startApp({ mode, options: { banner: null, timeout: 500 } });
    try {
      const c = await open(app);
      const t0 = await evalNumber(c, "app.ticks");
      assert.equal(await c.eval("while (true) {}"), "Interrupted: the evaluation ran longer than 500 ms (timeout)\n");
      assert.equal(await c.eval("for (;;) { Math.random() }"), "Interrupted: the evaluation ran longer than 500 ms (timeout)\n");
      await assertAppAlive(app, c);
      const t1 = await evalNumber(c, "app.ticks");
      assert.ok(t1 > t0);
      // Definitions made before and after still work.
      assert.equal(await c.eval("let kept = 41"), "undefined\n");
      assert.equal(await c.eval("while (true) {}"), "Interrupted: the evaluation ran longer than 500 ms (timeout)\n");
      assert.equal(await c.eval("kept + 1"), "42\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: await new Promise(() => {}) gives the prompt back after timeout with a note`, async () => {
    const app = await startApp({ mode, options: { banner: null, timeout: 500 } });
    try {
      const c = await open(app);
      const out = await c.eval("await new Promise(() => {})");
      assert.match(out, /500 ms/);
      assert.match(out, /keeps running/);
      assert.equal(count(out, "\n"), 1, JSON.stringify(out));
      await assertAppAlive(app, c);
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: unawaited rejections and throwing callbacks of manhole code are reported, the app survives`, async () => {
    const app = await startApp({ mode, options: { banner: null, timeout: 2000 } });
    try {
      const c = await open(app);
      const cases = [
        ["void Promise.reject(new Error('x'))", "Uncaught (in promise) Error: x"],
        ["(async () => { throw new Error('y') })()", "Uncaught (in promise) Error: y"],
        ["queueMicrotask(() => { throw new Error('m') })", "Uncaught Error: m"],
        ["setTimeout(() => { throw new Error('t') }, 10)", "Uncaught Error: t"],
        ["process.nextTick(() => { throw new Error('n') })", "Uncaught Error: n"],
        ["setImmediate(() => { throw new Error('i') })", "Uncaught Error: i"],
        ["void Promise.resolve().then(() => { throw new Error('chained') })", "Uncaught (in promise) Error: chained"],
        ["void (async () => { await null; throw new Error('later') })()", "Uncaught (in promise) Error: later"],
        ["void Promise.reject(42)", "Uncaught (in promise) 42"],
      ];
      for (const [line, report] of cases) {
        c.send(`${line}\n`);
        const first = await c.until(report, 10_000);
        const rest = await sync(c);
        const all = first + rest;
        assert.equal(count(all, report), 1, `${line}: ${JSON.stringify(all)}`);
        assert.equal(app.child.exitCode, null, `${line} killed the app: ${app.stderr()}`);
        assert.equal(await c.eval("1+1"), "2\n");
      }
      // The report goes to the session that made the promise, not to others.
      const other = await open(app);
      c.send("setTimeout(() => Promise.reject(new Error('mine')), 50)\n");
      await c.until("Uncaught (in promise) Error: mine", 10_000);
      await sync(c);
      assert.equal(await sync(other), "");
      await assertAppAlive(app, c);
      assert.doesNotMatch(app.stderr(), /Error: (x|y|m|t|n|i|chained|later|mine)\b/);
      other.end();
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the app's own unhandled rejection exits as it would without a manhole`, async () => {
    const ref = await referenceRun();
    assert.equal(ref.code, 1, `reference run: ${JSON.stringify(ref)}`);
    assert.match(ref.stderr, /app boom/);
    const run = await runToExit({ MANHOLE_TEST_THREADED: mode === "inline" ? "0" : "1" });
    assert.match(run.stdout, /^READY \/\S+\.sock 0$/m);
    assert.equal(run.code, ref.code, `stderr: ${run.stderr}`);
    assert.equal(run.signal, ref.signal);
    assert.match(run.stderr, /app boom/);
    assert.equal(errorReport(run.stderr), errorReport(ref.stderr));
  });

  test(`${mode}: a throw in a callback manhole code hands to Node is reported to its session, the app survives`, async () => {
    const app = await startApp({ mode, options: { banner: null, timeout: 2000 } });
    try {
      const c = await open(app);
      const other = await open(app);
      for (const [line, report] of CALLBACK_CASES) {
        c.send(`${line}\n`);
        const first = await c.until(report, 10_000);
        const all = first + (await sync(c));
        assert.equal(count(all, report), 1, `${line}: ${JSON.stringify(all)}`);
        const reported = all.slice(all.lastIndexOf("Uncaught "));
        assert.doesNotMatch(reported, /__mh_|manhole-runner|dist\/agent/, `${line}: ${JSON.stringify(reported)}`);
        assert.equal(app.child.exitCode, null, `${line} killed the app: ${app.stderr()}`);
        assert.equal(await c.eval("1+1"), "2\n");
      }
      // The user's frame is kept, at its place in the input as typed.
      c.send('require("fs").stat("/", () => {\n  throw new Error("where") })\n');
      const where = (await c.until("Uncaught Error: where", 10_000)) + (await sync(c));
      assert.match(where, /Uncaught Error: where\n {4}at .*REPL\d+:2:9/, JSON.stringify(where));
      assert.equal(await sync(other), "", "another session was told");
      await assertAppAlive(app, c);
      assert.doesNotMatch(app.stderr(), /stat cb|lookup cb|exec cb|listener|socket data|__mh_tick/);
      other.end();
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: containment counts nothing pending once the manhole's work is over`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      const work = path.join(ROOT, "dist", "agent", "main-thread", "containment.js");
      c.send(
        'fs = require("fs"); done = 0; fs.stat("/", () => done++); require("dns").lookup("localhost", () => done++); ' +
          'require("child_process").exec("true", () => done++); setTimeout(() => done++, 10); ' +
          'fs.createReadStream(process.argv[1]).on("data", () => {}).on("close", () => done++); ' +
          "void (async () => { for (let i = 0; i < 3; i++) await null; done++ })(); 0\n",
      );
      await c.until(`0\n${PROMPT}`);
      for (let i = 0; i < 100 && (await c.eval("done")) !== "6\n"; i++) await sleep(50);
      assert.equal(await c.eval("done"), "6\n");
      // Resources are let go when Node destroys them, a moment after their last callback.
      let pending;
      for (let i = 0; i < 50; i++) {
        pending = await c.eval(`(({ promises, resources }) => promises + resources)(require(${JSON.stringify(work)}).pendingWork())`);
        if (pending === "0\n") break;
        await sleep(50);
      }
      assert.equal(pending, "0\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: where Node carries an async context, containment sets no hook even while manhole work is pending`, async () => {
    // Node 24+ (AsyncContextFrame): by context, nothing to switch; Node 20/22: hooks, on while work is pending.
    const frames = Number(process.versions.node.split(".")[0]) >= 24 && !`${process.env.NODE_OPTIONS}`.includes("--no-async-context-frame");
    const expected = frames ? "context" : "hooks";
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      const work = JSON.stringify(path.join(ROOT, "dist", "agent", "main-thread", "containment.js"));
      c.send('t = setInterval(() => {}, 1000); p = new Promise(() => {}); require("fs").stat("/", () => { throw new Error("mine") })\n');
      await c.until("Uncaught Error: mine");
      await sync(c);
      const state = await c.eval(`(({ design, hooksOn }) => design + " " + hooksOn)(require(${work}).pendingWork())`);
      assert.equal(state, `'${expected} ${expected === "hooks"}'\n`);
      assert.equal(await c.eval("clearInterval(t); 1"), "1\n");
      // The same containment, whichever design: a rejection made later by a callback of manhole work.
      c.send('setTimeout(() => {}, 0); require("fs").stat("/", () => Promise.reject(new Error("later"))); 0\n');
      assert.match(await c.until("Uncaught (in promise) Error: later"), /Uncaught \(in promise\) Error: later/);
      await sync(c);
      await assertAppAlive(app, c);
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: typed code that rejects an app's promise nobody handles is told in its session, the app lives`, async () => {
    const app = await startApp({ mode, script: THROW_APP, options: { banner: null } });
    try {
      const c = await open(app);
      c.send('rejectAppPending(new Error("typed rejection")); 1\n');
      const told = (await c.until("Uncaught (in promise) Error: typed rejection", 10_000)) + (await sync(c));
      assert.equal(count(told, "typed rejection"), 1, JSON.stringify(told));
      assert.equal(app.child.exitCode, null, `the app died: ${app.stderr()}`);
      assert.equal(await c.eval("1+1"), "2\n");
      assert.doesNotMatch(app.stderr(), /typed rejection/);
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: after an evaluation is terminated, the app's own throw is still Node's and the manhole's still contained`, async () => {
    const app = await startApp({ mode, script: THROW_APP, options: { timeout: 300 } });
    try {
      const c = await open(app);
      c.send("while (true) {}\n");
      await c.until("Interrupted", 10_000);
      await sync(c);
      c.send('require("fs").stat("/", () => { throw new Error("mine") })\n');
      await c.until("Uncaught Error: mine");
      await sync(c);
      app.child.kill("SIGUSR2");
      const exited = await Promise.race([app.exit, sleep(10_000).then(() => ({ code: null, signal: "did not exit" }))]);
      assert.equal(exited.code, 1, `stderr: ${app.stderr()}`);
      assert.match(app.stderr(), /Error: app boom/);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a throw in a callback of a session that has closed is told on stderr, the app survives`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      c.send('require("child_process").exec("sleep 0.3", () => { throw new Error("orphan") }); 0\n');
      await c.until(`0\n${PROMPT}`);
      c.end();
      for (let i = 0; i < 100 && !app.stderr().includes("orphan"); i++) await sleep(50);
      assert.match(app.stderr(), /manhole: .*session \d+.*\n?.*Uncaught Error: orphan/);
      assert.doesNotMatch(app.stderr(), /__mh_tick/);
      const d = await open(app);
      await assertAppAlive(app, d);
      d.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the app's own uncaught exception is Node's, even while manhole callbacks are pending`, async () => {
    const ref = await throwRun({ env: { MANHOLE_FIXTURE_NO_MANHOLE: "1" } });
    assert.equal(ref.code, 1, `reference run: ${JSON.stringify(ref)}`);
    assert.match(ref.stderr, /Error: app boom/);
    const run = await throwRun({ mode, prepare: leavePendingWork });
    assert.equal(run.code, ref.code, `stderr: ${run.stderr}`);
    assert.equal(run.signal, ref.signal);
    assert.equal(run.stderr, ref.stderr);
  });

  test(`${mode}: the app's own unhandled rejection is Node's, byte for byte, even while manhole work is pending`, async () => {
    const modes = ["strict", "warn", "warn-with-error-code"].map((m) => `--unhandled-rejections=${m}`);
    for (const flag of [undefined, ...modes]) {
      const livesOn = flag?.includes("warn");
      const env = { MANHOLE_FIXTURE_REJECT: "1", ...(flag ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${flag}`.trim() } : {}) };
      // warn modes: the app lives on; its stderr is compared once the warning is out.
      const prepareWarn = (prepare) => async (app) => {
        await prepare(app);
        if (!livesOn) return;
        app.child.kill("SIGUSR2");
        for (let i = 0; i < 200 && !app.stderr().includes("app boom"); i++) await sleep(25);
        await sleep(200);
        throw Object.assign(new Error("done"), { stderr: app.stderr() });
      };
      const runOnce = (opts) =>
        throwRun(opts).catch((err) => (err.stderr !== undefined ? { code: null, stderr: err.stderr } : Promise.reject(err)));
      const ref = await runOnce({ env: { ...env, MANHOLE_FIXTURE_NO_MANHOLE: "1" }, prepare: prepareWarn(async () => {}) });
      assert.match(ref.stderr, /Error: app boom/, `reference run (${flag ?? "throw"}): ${JSON.stringify(ref)}`);
      const run = await runOnce({ mode, env, prepare: prepareWarn(leavePendingWork) });
      assert.equal(run.code, ref.code, `stderr: ${run.stderr}`);
      assert.equal(run.signal, ref.signal);
      // The header names the app's line (not manhole's); a warning carries the pid.
      const same = (text) => text.replace(/\(node:\d+\)/g, "(node:PID)");
      assert.equal(same(run.stderr), same(ref.stderr), flag ?? "throw");
    }
  });

  test(`${mode}: the app's uncaughtException listener is called once, for the app's throw only`, async () => {
    const run = await throwRun({ mode, env: { MANHOLE_FIXTURE_LISTENER: "1" }, prepare: leavePendingWork });
    try {
      for (let i = 0; i < 100 && !run.app.stdout().includes("APP LISTENER"); i++) await sleep(50);
      await sleep(200);
      assert.equal(run.app.stdout().split("APP LISTENER").length - 1, 1, run.app.stdout());
      assert.match(run.app.stdout(), /^APP LISTENER app boom$/m);
      assert.equal(run.app.child.exitCode, null, `app died: ${run.app.stderr()}`);
      assert.doesNotMatch(run.app.stderr(), /app boom|mine/);
    } finally {
      await run.app.stop();
    }
  });

  test(`${mode}: --abort-on-uncaught-exception still aborts on the app's own throw`, async () => {
    const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --abort-on-uncaught-exception`.trim() };
    const ref = await throwRun({ env: { ...env, MANHOLE_FIXTURE_NO_MANHOLE: "1" } });
    // Node aborts: SIGABRT, or SIGTRAP where V8's abort is a trap instruction.
    assert.match(String(ref.signal), /^SIG(ABRT|TRAP)$/, `reference run: ${JSON.stringify(ref)}`);
    // A session that has nothing pending: Node's report, byte for byte.
    const idle = await throwRun({
      mode,
      env,
      prepare: async (app) => {
        const c = await open(app);
        assert.equal(await c.eval("1"), "1\n");
      },
    });
    assert.equal(idle.signal, ref.signal, `stderr: ${idle.stderr}`);
    assert.equal(idle.stderr, ref.stderr);
    // With manhole work pending (whose throws must not abort), the before/after hooks that keep
    // V8 from aborting on those add Node's async_hooks trampoline frame to the report's stack.
    const run = await throwRun({ mode, env, prepare: leavePendingWork });
    assert.equal(run.signal, ref.signal, `stderr: ${run.stderr}`);
    assert.equal(run.code, ref.code);
    assert.equal(run.stderr.replace(/\n\S*callbackTrampoline \(node:internal\/async_hooks:\d+:\d+\)/, ""), ref.stderr);
  });

  test(`${mode}: an app-installed unhandledRejection listener is called and the app lives on`, async () => {
    const app = await startApp({ mode, script: REJECTION_APP, env: { MANHOLE_FIXTURE_LISTENER: "1" } });
    try {
      for (let i = 0; i < 100 && !app.stdout().includes("APP LISTENER app boom"); i++) await sleep(50);
      assert.equal(count(app.stdout(), "APP LISTENER app boom\n"), 1, app.stdout());
      await sleep(300);
      assert.equal(app.child.exitCode, null, `app died: ${app.stderr()}`);
      assert.doesNotMatch(app.stderr(), /app boom/);
      const c = await connect(app.path);
      await c.until(PROMPT);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: hostile and huge values print safely, long output is cut`, async () => {
    const app = await startApp({ mode, options: { banner: null, maxOutputBytes: 10000 } });
    try {
      const c = await open(app);
      assert.equal(await c.eval("({ get x() { throw new Error('g') } })"), "{ x: [Getter] }\n");
      assert.equal(await c.eval("(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy })()"), "<Revoked Proxy>\n");
      const trap = "() => { throw new Error('trap') }";
      const proxyOut = await c.eval(
        `new Proxy({}, { get: ${trap}, has: ${trap}, ownKeys: ${trap}, getOwnPropertyDescriptor: ${trap}, getPrototypeOf: ${trap} })`,
      );
      assert.match(proxyOut, /^Proxy \[/);
      assert.doesNotMatch(proxyOut, /Uncaught/);
      const nested = await c.eval(`({ inner: new Proxy({}, { get: ${trap}, ownKeys: ${trap}, getPrototypeOf: ${trap} }), n: 1 })`);
      assert.match(nested, /n: 1/);
      assert.doesNotMatch(nested, /Uncaught/);
      assert.equal(await c.eval("o = { a: 1 }; o.self = o; o"), "<ref *1> { a: 1, self: [Circular *1] }\n");
      // Thrown hostile values print too.
      const thrownRevoked = await c.eval("throw (() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy })()");
      assert.match(thrownRevoked, /^Uncaught /);
      assert.equal(count(thrownRevoked, "\n"), 1, JSON.stringify(thrownRevoked));
      const thrownGetter = await c.eval("throw { get stack() { throw new Error('s') }, message: 'm' }");
      assert.match(thrownGetter, /^Uncaught /);
      const revoked = "(() => { const p = Proxy.revocable({}, {}); p.revoke(); return p.proxy })()";
      for (const line of [
        `throw new Proxy({}, { get: ${trap}, getPrototypeOf: ${trap}, ownKeys: ${trap}, has: ${trap} })`,
        "throw Object.defineProperty(new Error('c'), 'code', { get() { throw new Error('no') }, enumerable: true })",
        `await Promise.reject(${revoked})`,
      ]) {
        const out = await c.eval(line);
        assert.match(out, /^Uncaught /, `${line}: ${JSON.stringify(out)}`);
        assert.equal(app.child.exitCode, null, `${line} killed the app: ${app.stderr()}`);
      }
      c.send(`void Promise.reject(${revoked})\n`);
      await c.until("Uncaught (in promise) ");
      await sync(c);
      assert.equal(app.child.exitCode, null, app.stderr());

      const big = await c.eval("'x'.repeat(5e6)");
      assert.ok(Buffer.byteLength(big) < 10000 + 200, `printed ${Buffer.byteLength(big)} bytes`);
      assert.match(big, /^'xxxx/);
      assert.match(big, /\[output cut: over maxOutputBytes \(10000 bytes\)\]\n$/);
      const arr = await c.eval("new Array(1e6).fill(1)");
      assert.match(arr, /\.\.\. 999900 more items\n\]\n$/);
      assert.ok(Buffer.byteLength(arr) < 10000);

      const logs = await c.eval("for (let i = 0; i < 10000; i++) console.log(i)");
      assert.ok(logs.startsWith("0\n1\n2\n3\n"), logs.slice(0, 50));
      assert.match(logs, /\[output cut: over maxOutputBytes \(10000 bytes\)\]/);
      assert.ok(Buffer.byteLength(logs) < 10000 + 200, `printed ${Buffer.byteLength(logs)} bytes`);
      assert.doesNotMatch(logs, /\n9999\n/);
      // The next evaluation has its full budget again.
      assert.equal(await c.eval("1+1"), "2\n");
      assert.equal(await c.eval("'y'.repeat(100)"), `'${"y".repeat(100)}'\n`);
      await assertAppAlive(app, c);
      c.end();
    } finally {
      await app.stop();
    }
  });
}
