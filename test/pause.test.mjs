// .pause: the blocked main thread paused from the worker, inputs evaluated in its frame, and
// always let go again (.resume, the client leaving, the idle limit).
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { connect, httpGetWithin, ROOT, runClient, startApp, waitForText } from "./helpers.mjs";

const LEDGER = path.join(ROOT, "test", "fixtures", "ledger.cjs");
const CLI = path.join(ROOT, "dist", "cli", "main.js");
const cli = (args, dir) => runClient(process.execPath, [CLI, ...args], "", { timeout: 20_000, env: { NO_COLOR: "1", MANHOLE_DIR: dir } });
const PAUSED = "(paused) >>> ";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T = { timeout: 60_000 };
const httpGet = httpGetWithin;

const waitFor = waitForText;

async function withLedger(env, fn) {
  const app = await startApp({ script: LEDGER, env: { BLOCK_MS: "30000", ...env }, options: { banner: null, timeout: 60_000 } });
  try {
    const c = await connect(app.path);
    await c.until(">>> ");
    const block = async () => {
      app.child.kill("SIGUSR2");
      await waitFor(app.stdout, /^BLOCKING ledger$/m);
      await sleep(400); // past the heartbeat's threshold
    };
    await fn(c, app, block);
    c.end();
  } finally {
    await app.stop();
  }
}

test(".pause on an idle app says there is nothing to pause", T, async () => {
  await withLedger({}, async (c) => {
    assert.match(await c.eval(".pause"), /^Nothing to pause: the event loop turns/);
    assert.equal(await c.eval("1 + 1"), "2\n");
  });
});

test(".pause shows spinTheLedger and job; job.limit = 0 and .resume end the loop; the app serves HTTP again", T, async () => {
  await withLedger({}, async (c, app, block) => {
    await block();
    const paused = await c.eval(".pause", PAUSED);
    assert.match(paused, /^>#0 at spinTheLedger \(\S*ledger\.cjs:\d+:\d+\)$/m);
    assert.match(paused, /^Locals of spinTheLedger:$/m);
    assert.match(paused, /^ {4}job = Object$/m);
    assert.equal(await c.eval("job.limit", PAUSED), "9007199254740991\n");
    // Another session is told who holds the main thread.
    const other = await connect(app.path);
    assert.match(await other.until(">>> "), /paused by session \d+ \(\.pause\)/);
    assert.match(await other.eval(".stack"), /^Main thread: paused by session \d+[\s\S]*spinTheLedger/);
    other.end();
    assert.equal(await c.eval("job.limit = 0", PAUSED), "0\n");
    assert.match(await c.eval(".resume"), /^Resumed after/);
    await waitFor(app.stdout, /^UNBLOCKED ledger \d+$/m, 5000);
    assert.match(await httpGet(app.port), /ok \d+/);
    assert.equal(await c.eval("1 + 1"), "2\n");
  });
});

test("an assignment to a plain stack local is reported as not taking effect", T, async () => {
  await withLedger({ BLOCK_MS: "8000" }, async (c, app, block) => {
    await block();
    await c.eval(".pause", PAUSED);
    const out = await c.eval("until = 0", PAUSED);
    assert.match(out, /^\(until did not change: .*change an object it reads instead \(e\.g\. a property of job\)\)$/m);
    assert.match(await c.eval(".frame 1", PAUSED), /^>#1 /m);
    assert.match(await c.eval(".down", PAUSED), /^>#0 at spinTheLedger/m);
    await c.eval("job.limit = 0", PAUSED);
    await c.eval(".resume");
    await waitFor(app.stdout, /^UNBLOCKED ledger/m, 5000);
  });
});

test("a client that disconnects while paused resumes the app", T, async () => {
  await withLedger({ BLOCK_MS: "4000" }, async (c, app, block) => {
    await block();
    const p = await connect(app.path);
    await p.until(">>> ");
    await p.eval(".pause", PAUSED);
    const left = Date.now();
    p.destroy();
    // The block (4 s from its start) ends on time: the pause did not hold it.
    await waitFor(app.stdout, /^UNBLOCKED ledger/m, 8000);
    assert.ok(Date.now() - left < 6000);
    assert.match(await httpGet(app.port), /ok \d+/);
    assert.equal(await c.eval("1 + 1"), "2\n");
  });
});

test("a forgotten pause resumes by itself after the idle limit", T, async () => {
  await withLedger({ BLOCK_MS: "3000", MANHOLE_PAUSE_IDLE_MS: "1500" }, async (c, app, block) => {
    await block();
    await c.eval(".pause", PAUSED);
    assert.match(await c.until(">>> ", 5000), /Resumed \(unused for 1\.5 s\)/);
    await waitFor(app.stdout, /^UNBLOCKED ledger/m, 8000);
  });
});

test("structured: pause, eval in the paused frame, frame, resume", T, async () => {
  await withLedger({}, async (_c, app, block) => {
    const s = await connect(app.path);
    s.send('{"op":"hello","id":1,"protocol":[1]}\n');
    await s.until("\n");
    await block();
    s.send('{"op":"command","id":2,"name":"pause"}\n');
    const paused = JSON.parse(await s.until("\n"));
    assert.equal(paused.op, "result");
    assert.equal(paused.json.paused, true);
    assert.equal(paused.json.frames[0].function, "spinTheLedger");
    s.send('{"op":"eval","id":3,"code":"job.limit = 0"}\n');
    assert.deepEqual(JSON.parse(await s.until("\n")), { op: "value", id: 3, text: "0" });
    s.send('{"op":"command","id":4,"name":"frame","args":{"n":1}}\n');
    assert.equal(JSON.parse(await s.until("\n")).json.selected, 1);
    s.send('{"op":"command","id":5,"name":"resume"}\n');
    assert.equal(JSON.parse(await s.until("\n")).json.resumed, true);
    await waitFor(app.stdout, /^UNBLOCKED ledger/m, 5000);
    s.end();
  });
});

test("manhole exec --pause: pauses, evaluates in the top frame, resumes; refused on an idle app", T, async () => {
  await withLedger({}, async (c, app, block) => {
    const idle = await cli(["exec", "--pause", app.path, "1"], app.dir);
    assert.equal(idle.code, 1);
    assert.match(idle.stderr, /^Nothing to pause/);
    await block();
    const r = await cli(["exec", "--pause", app.path, "job.limit = 0"], app.dir);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "0\n");
    assert.equal(r.code, 0);
    await waitFor(app.stdout, /^UNBLOCKED ledger/m, 5000);
    assert.equal(await c.eval("1 + 1"), "2\n");
  });
});

test(".pause in native code (execSync) says it cannot pause it; the app goes on", T, async () => {
  const script = path.join(ROOT, "test", "fixtures", "blocker.cjs");
  const app = await startApp({ script, env: { BLOCK_KIND: "exec", BLOCK_MS: "4000" }, options: { banner: null, timeout: 60_000 } });
  try {
    const c = await connect(app.path);
    await c.until(">>> ");
    app.child.kill("SIGUSR2");
    await waitFor(app.stdout, /^BLOCKING exec$/m);
    await sleep(400);
    assert.match(await c.eval(".pause"), /^Cannot pause: the main thread is blocked outside JavaScript .*native code cannot be paused/);
    await waitFor(app.stdout, /^UNBLOCKED exec$/m, 8000);
    assert.equal(await c.eval("1 + 1"), "2\n");
    c.end();
  } finally {
    await app.stop();
  }
});
