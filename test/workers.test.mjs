// Worker threads: .workers lists the app's worker_threads (not the manhole's own), .worker <id>
// evaluates in one through the inspector's worker support, .stack shows its stack, and nothing is
// left paused or attached. The app (fixtures/workers.cjs) starts two workers: "idler", which waits
// for messages, and "spinner", stuck in a synchronous loop (spinForever) that counts its rounds
// in shared memory the main thread reads (spinnerRounds()).
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, nc, PROMPT, ROOT, requireTool, runClient, startApp } from "./helpers.mjs";

requireTool("nc");

const FIXTURE = path.join(ROOT, "test", "fixtures", "workers.cjs");
const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const IDLER = path.join(ROOT, "test", "fixtures", "workers", "idler.cjs");
const SPINNER = path.join(ROOT, "test", "fixtures", "workers", "spinner.cjs");
const inWorker = (id) => `[worker ${id}] ${PROMPT}`;

async function session(app) {
  const c = await connect(app.path);
  // On a loaded machine the greeting may say that the loop was blocked a moment.
  assert.match(await c.until(PROMPT), /^(WARNING: the event loop is blocked for .*\n)?>>> $/);
  return c;
}

async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  let next = 100;
  return {
    c,
    /** Sends a request and resolves with its final reply (not `out` or `blocked`). */
    async request(body) {
      const id = next++;
      c.send(`${JSON.stringify({ id, ...body })}\n`);
      for (;;) {
        const line = await c.until(/.*\n/, 20_000);
        const reply = JSON.parse(line);
        if (reply.id === id && reply.op !== "out" && reply.op !== "blocked") return reply;
      }
    },
  };
}

/** The spinner's progress, read on the main thread. */
async function rounds(c) {
  const out = await c.eval("spinnerRounds()");
  assert.match(out, /^\d+\n$/);
  return Number(out);
}

/** Waits until the spinner has made progress since `since` (it is neither paused nor stopped). */
async function spinnerAdvancesFrom(c, since) {
  for (let i = 0; i < 200; i++) {
    if ((await rounds(c)) > since) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail("the spinner made no progress");
}

describe("worker threads, threaded", () => {
  let app;
  let ids;
  before(async () => {
    app = await startApp({ script: FIXTURE, options: { banner: null, timeout: 2000 } });
    const c = await session(app);
    ids = JSON.parse((await c.eval("JSON.stringify({ idler: workers.idler.threadId, spinner: workers.spinner.threadId })")).slice(1, -2));
    c.end();
  });
  after(() => app?.stop());

  test(".workers lists both workers with their thread ids, names and files, and not the manhole's own", async () => {
    const { stdout } = await nc(app.path, ".workers\n");
    const lines = stdout.split("\n");
    const idler = lines.find((l) => l.includes(IDLER));
    const spinner = lines.find((l) => l.includes(SPINNER));
    assert.match(idler, new RegExp(`^${ids.idler}\\s+idler\\s+.*\\sidle$`));
    assert.match(spinner, new RegExp(`^\\s*${ids.spinner}\\s+spinner\\s+.*\\b(blocked|running) in .*spinForever`));
    assert.doesNotMatch(stdout, /worker-end|boundary/);
    assert.equal(lines.filter((l) => /^\d+\s/.test(l)).length, 2, stdout);
  });

  test("manhole workers <socket> prints the table and --json the list; exit code 0", async () => {
    const text = await runClient(process.execPath, [MAIN, "workers", app.path]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /THREAD\s+NAME\s+UPTIME\s+HEAP\s+FILE\s+STATE/);
    assert.ok(text.stdout.includes(SPINNER), text.stdout);
    const json = await runClient(process.execPath, [MAIN, "workers", app.path, "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const { workers, current } = JSON.parse(json.stdout);
    assert.equal(current, null);
    const expected = [
      [ids.idler, "idler", IDLER],
      [ids.spinner, "spinner", SPINNER],
    ].sort((a, b) => a[0] - b[0]);
    assert.deepEqual(
      workers.map((w) => [w.threadId, w.name, w.file]),
      expected,
    );
    const spinner = workers.find((w) => w.name === "spinner");
    assert.ok(["blocked", "running"].includes(spinner.state), spinner.state);
    assert.match(spinner.frame.function, /spinForever/);
    assert.equal(spinner.frame.file, SPINNER);
    assert.equal(workers.find((w) => w.name === "idler").state, "idle");
    for (const w of workers) {
      assert.ok(w.uptimeMs > 0 && w.heapUsed > 0, JSON.stringify(w));
      assert.equal(w.sessions, 0);
    }
  });

  test(".worker <id> evaluates in that worker: its globals, its threadId, errors as Uncaught, await and let; .worker main goes back", async () => {
    const c = await session(app);
    const entered = await c.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
    assert.match(entered, new RegExp(`^Now in worker ${ids.idler} "idler" \\(${IDLER.replace(/[.]/g, "\\.")}, up .*, idle\\)`));
    const ev = (code) => c.eval(code, inWorker(ids.idler));
    assert.equal(await ev("workerMarker"), "'idler-marker'\n");
    assert.equal(await ev("require('worker_threads').threadId"), `${ids.idler}\n`);
    assert.equal(await ev("whoAmI()"), `'idler-marker in thread ${ids.idler}'\n`);
    assert.equal(await ev("({ a: [1, 2, { b: new Map([[1, 'x']]) }] })"), "{ a: [ 1, 2, { b: [Map] } ] }\n");
    assert.match(await ev("throw new TypeError('bad')"), /^Uncaught TypeError: bad\n {4}at REPL\d+:1:7\n$/);
    assert.equal(await ev("let v = await new Promise((r) => setTimeout(() => r(7), 20)); v * 6"), "42\n");
    assert.equal(await ev("v"), "7\n");
    assert.equal(await ev("let v = 8"), "undefined\n"); // declared again, as in Node's REPL
    assert.match(await ev("await Promise.reject(new RangeError('no'))"), /^Uncaught RangeError: no\n {4}at REPL\d+:1:22\n$/);
    assert.equal(await ev("'x'.repeat(3)"), "'xxx'\n");
    assert.equal(await ev("10n ** 20n"), "100000000000000000000n\n");
    assert.equal(await c.eval(".worker main"), "Back on the main thread.\n");
    assert.match(await c.eval("workerMarker"), /^Uncaught ReferenceError: workerMarker is not defined/);
    assert.equal(await c.eval("require('worker_threads').threadId"), "0\n");
    c.end();
  });

  test("what an input prints in a worker comes to its session, in order, before its value (the app's stdout still gets it)", async () => {
    const c = await session(app);
    await c.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
    const ev = (code) => c.eval(code, inWorker(ids.idler));
    assert.equal(
      await ev("console.log('one', 2, { three: [3] }); console.info('%s-%d', 'four', 4); 5"),
      "one 2 { three: [ 3 ] }\nfour-4\n5\n",
    );
    // From app code the input calls, and after an await.
    assert.equal(
      await ev("globalThis.say = (x) => console.log('said', x); say('a'); await null; say('b'); 'done'"),
      "said a\nsaid b\n'done'\n",
    );
    // Not what the worker prints on its own or for another input: a timer set by an input prints after it ended.
    assert.equal(await ev("setTimeout(() => console.log('later'), 10); 'set'"), "'set'\n");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await ev("'after'"), "'after'\n");
    assert.match(app.stdout(), /^one 2 \{ three: \[ 3 \] \}$/m);
    assert.match(app.stdout(), /^later$/m);
    await c.eval(".worker main");
    c.end();
    // Structured: each line an `out` of that request, before its value.
    const s = await structured(app);
    s.c.send(`${JSON.stringify({ op: "eval", id: 7, code: "console.log('x'); 1", worker: ids.idler })}\n`);
    const replies = [JSON.parse(await s.c.until(/.*\n/, 20_000)), JSON.parse(await s.c.until(/.*\n/, 20_000))];
    assert.deepEqual(
      replies.map((r) => [r.op, r.id, r.text]),
      [
        ["out", 7, "x\n"],
        ["value", 7, "1"],
      ],
    );
    s.c.end();
  });

  test("in the stuck worker: expressions answer, .stack names its busy function, a runaway input stops at the timeout, and it keeps spinning", async () => {
    const c = await session(app);
    const before = await rounds(c);
    await c.eval(`.worker ${ids.spinner}`, inWorker(ids.spinner));
    const ev = (code) => c.eval(code, inWorker(ids.spinner));
    assert.equal(await ev("workerMarker"), "'spinner-marker'\n");
    assert.equal(await ev("require('worker_threads').threadId"), `${ids.spinner}\n`);
    const stack = await ev(".stack");
    assert.match(stack, new RegExp(`^Worker ${ids.spinner} "spinner" \\(.*spinner\\.cjs\\): running JavaScript\\n`));
    assert.match(stack, new RegExp(`\\n {4}at spinForever \\(${SPINNER.replace(/[.]/g, "\\.")}:\\d+:\\d+\\)\\n`));
    assert.match(stack, /\nLocals of spinForever:\n {4}\w+ = /);
    assert.equal(await ev("while (true) {}"), "Interrupted: the evaluation ran longer than 2000 ms (timeout)\n");
    assert.equal(await ev("workerMarker"), "'spinner-marker'\n");
    assert.equal(await c.eval(".worker main"), "Back on the main thread.\n");
    await spinnerAdvancesFrom(c, before);
    const after = await rounds(c);
    await spinnerAdvancesFrom(c, after); // not paused by the .stack: it goes on
    c.end();
  });

  test("an unknown or malformed id gets a clear error and the session stays on the main thread", async () => {
    const { stdout } = await nc(app.path, ".worker 9999\n.worker spinner\n.worker\n1 + 1\n");
    assert.equal(
      stdout,
      `${PROMPT}.worker: no worker thread 9999 in this process (its workers: ${[ids.idler, ids.spinner].sort((a, b) => a - b).join(", ")}; .workers lists them)\n` +
        `${PROMPT}.worker: thread must be a thread id (a number, see .workers) or main, not "spinner"\n` +
        `${PROMPT}This session evaluates on the main thread (.worker <id> goes into a worker thread; .workers lists them).\n` +
        `${PROMPT}2\n${PROMPT}`,
    );
  });

  test("Ctrl-C in a worker: an awaiting input gives the prompt back; a synchronous one is said to stop at its timeout", async () => {
    const c = await session(app);
    await c.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
    c.send("await new Promise(() => {})\n");
    await new Promise((r) => setTimeout(r, 200));
    c.send("\x03\n");
    assert.equal(
      await c.until(inWorker(ids.idler)),
      `Interrupted while awaiting: the prompt is back; the promise keeps running\n${inWorker(ids.idler)}`,
    );
    c.send("while (true) {}\n");
    await new Promise((r) => setTimeout(r, 200));
    c.send("\x03\n");
    const out = await c.until(inWorker(ids.idler));
    assert.match(
      out,
      new RegExp(
        `^\\(this input's synchronous part runs in worker ${ids.idler}, whose inspector takes one request at a time: it cannot be interrupted there, and is stopped at the timeout, 2\\.0 s after it started\\)\\n`,
      ),
    );
    assert.match(out, /Interrupted: the evaluation ran longer than 2000 ms \(timeout\)\n/);
    assert.equal(await c.eval("workerMarker", inWorker(ids.idler)), "'idler-marker'\n");
    c.end();
  });

  test("a worker started later is listed and can be entered", async () => {
    const c = await session(app);
    const id = Number(await c.eval("await startLater()"));
    assert.match(await c.eval(".workers"), new RegExp(`\\n${id}\\s+later\\s+.*idler\\.cjs`));
    await c.eval(`.worker ${id}`, inWorker(id));
    assert.equal(await c.eval("workerMarker", inWorker(id)), "'later-marker'\n");
    assert.equal(await c.eval(".worker main"), "Back on the main thread.\n");
    c.end();
  });

  test("a worker that exits while a session is in it: the session is told and is back on the main thread", async () => {
    const main = await session(app);
    const id = Number(await main.eval("await exitSoon()"));
    const c = await session(app);
    await c.eval(`.worker ${id}`, inWorker(id));
    assert.equal(await c.eval("workerMarker", inWorker(id)), "'leaver-marker'\n");
    assert.equal(
      await main.eval("workers.leaver.postMessage('exit'); await new Promise((r) => workers.leaver.once('exit', r)); 'gone'"),
      "'gone'\n",
    );
    assert.equal(await c.until(PROMPT), `\nmanhole: worker ${id} has exited; this session is back on the main thread\n${PROMPT}`);
    assert.match(await c.eval("workerMarker"), /^Uncaught ReferenceError/);
    assert.doesNotMatch(await c.eval(".workers"), new RegExp(`\\n${id}\\s`));
    main.end();
    c.end();
  });

  test("structured: the worker command reports the session effect; eval takes a worker field; describe lists both", async () => {
    const s = await structured(app);
    const listed = await s.request({ op: "command", name: "workers" });
    assert.equal(listed.op, "result");
    assert.deepEqual(
      listed.json.workers
        .map((w) => w.threadId)
        .filter((id) => id === ids.idler || id === ids.spinner)
        .sort((a, b) => a - b),
      [ids.idler, ids.spinner].sort((a, b) => a - b),
    );
    const moved = await s.request({ op: "command", name: "worker", args: String(ids.idler) });
    assert.equal(moved.op, "result");
    assert.deepEqual(moved.session, { worker: ids.idler });
    assert.equal(moved.json.worker, ids.idler);
    const marker = await s.request({ op: "eval", code: "workerMarker" });
    assert.deepEqual([marker.op, marker.text, marker.json], ["value", "'idler-marker'", "idler-marker"]);
    const spinner = await s.request({ op: "eval", code: "workerMarker", worker: ids.spinner });
    assert.equal(spinner.text, "'spinner-marker'");
    const onMain = await s.request({ op: "eval", code: "typeof workerMarker", worker: "main" });
    assert.equal(onMain.text, "'undefined'");
    const thrown = await s.request({ op: "eval", code: "throw new SyntaxError('nope')" });
    assert.equal(thrown.op, "error");
    assert.equal(thrown.error.name, "SyntaxError");
    assert.equal(thrown.error.message, "nope");
    assert.match(thrown.text, /^Uncaught SyntaxError: nope\n {4}at REPL\d+:1:7$/);
    const bad = await s.request({ op: "eval", code: "1", worker: "idler" });
    assert.equal(bad.error.name, "BadRequest");
    const unknown = await s.request({ op: "eval", code: "1", worker: 9999 });
    assert.match(unknown.text, /no worker thread 9999/);
    const back = await s.request({ op: "command", name: "worker", args: { thread: "main" } });
    assert.deepEqual(back.session, { worker: null });
    const described = await s.request({ op: "describe" });
    const names = described.commands.map((cmd) => cmd.name);
    assert.ok(names.includes("workers") && names.includes("worker"));
    assert.equal(described.commands.find((cmd) => cmd.name === "worker").sessionOnly, true);
    s.c.end();
  });

  test("manhole exec --worker <id> evaluates in that worker; a bad id is a usage error", async () => {
    const ok = await runClient(process.execPath, [MAIN, "exec", app.path, "--worker", String(ids.spinner), "workerMarker"]);
    assert.deepEqual([ok.code, ok.stdout, ok.stderr], [0, "'spinner-marker'\n", ""]);
    const unknown = await runClient(process.execPath, [MAIN, "exec", app.path, "--worker", "9999", "1"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no worker thread 9999 in this process/);
    const bad = await runClient(process.execPath, [MAIN, "exec", app.path, "--worker", "idler", "1"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--worker takes a thread id/);
  });

  test("structured: a worker that exits is announced with a session reply", async () => {
    const main = await session(app);
    const id = Number(await main.eval("await exitSoon()"));
    const s = await structured(app);
    const moved = await s.request({ op: "command", name: "worker", args: String(id) });
    assert.deepEqual(moved.session, { worker: id }, JSON.stringify(moved));
    await main.eval("workers.leaver.postMessage('exit'); await new Promise((r) => workers.leaver.once('exit', r)); 1");
    const line = await s.c.until(/\{"op":"session".*\n/);
    assert.deepEqual(JSON.parse(line), {
      op: "session",
      id: null,
      session: { worker: null },
      text: `manhole: worker ${id} has exited; this session is back on the main thread`,
    });
    assert.equal((await s.request({ op: "eval", code: "typeof workerMarker" })).text, "'undefined'");
    main.end();
    s.c.end();
  });

  test("a client killed in a worker (mid-.stack, mid-evaluation) leaves the app and its workers healthy, the spinner not paused", async () => {
    const watcher = await session(app);
    for (let round = 0; round < 3; round++) {
      const c = await session(app);
      await c.eval(`.worker ${ids.spinner}`, inWorker(ids.spinner));
      c.send(".stack\n");
      c.destroy();
      const d = await session(app);
      await d.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
      d.send("while (true) {}\n");
      await new Promise((r) => setTimeout(r, 50));
      d.destroy();
    }
    const since = await rounds(watcher);
    await spinnerAdvancesFrom(watcher, since);
    // The idler answers again once the abandoned inputs' timeouts have stopped them (each runs
    // its full timeout in turn, the worker's inspector taking one request at a time).
    await watcher.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
    let marker = "";
    for (let i = 0; i < 5 && marker !== "'idler-marker'\n"; i++) {
      marker = await watcher.eval("workerMarker", inWorker(ids.idler));
      assert.match(marker, /^('idler-marker'|Timed out after 2000 ms while awaiting.*)\n$/);
    }
    assert.equal(marker, "'idler-marker'\n");
    await watcher.eval(".worker main");
    assert.equal(await watcher.eval("1 + 1"), "2\n");
    const listed = JSON.parse((await runClient(process.execPath, [MAIN, "workers", app.path, "--json"])).stdout);
    assert.ok(
      listed.workers.every((w) => w.sessions === 0),
      JSON.stringify(listed.workers),
    );
    const after = await rounds(watcher);
    await spinnerAdvancesFrom(watcher, after);
    watcher.end();
  });

  test("the app exits on its own terms while a session is in a worker (the last test: it ends the app)", async () => {
    const c = await session(app);
    await c.eval(`.worker ${ids.idler}`, inWorker(ids.idler));
    app.child.kill("SIGTERM");
    assert.deepEqual(await app.exit, { code: 0, signal: null });
    // Node's own line for a worker that ends with an inspector session attached (it does not wait).
    assert.match(app.stderr(), /^(Waiting for the debugger to disconnect\.\.\.\n)*$/);
  });
});

describe("worker threads, threaded: false", () => {
  let app;
  before(async () => {
    app = await startApp({ mode: "inline", script: FIXTURE, options: { banner: null } });
  });
  after(() => app?.stop());

  test(".workers and .worker say that they need threaded mode", async () => {
    const { stdout } = await nc(app.path, ".workers\n.worker 1\n1 + 1\n");
    const needs =
      "Worker threads are reached through the manhole's own worker thread, and this manhole runs with threaded: false: start it with threaded: true (the default) to list them or evaluate in one.";
    assert.equal(stdout, `${PROMPT}${needs}\n${PROMPT}.worker failed: ${needs}\n${PROMPT}2\n${PROMPT}`);
  });
});
