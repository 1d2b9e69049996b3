// When the event loop is stuck: an input is told so at once (how long, where, what it can do),
// runs exactly once when told it waits and never when told it is cancelled; the diagnosis of
// JavaScript vs native code rests on what the inspector observed.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { connect, httpGetWithin, ROOT, startApp, waitForText } from "./helpers.mjs";

const LEDGER = path.join(ROOT, "test", "fixtures", "ledger.cjs");
const BLOCKER = path.join(ROOT, "test", "fixtures", "blocker.cjs");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const T = { timeout: 40_000 };
const httpGet = httpGetWithin;

const waitFor = waitForText;

/** Starts `script` with a session past its first prompt; `block()` makes its main thread block (SIGUSR2). */
async function withBlockable(script, env, options, fn) {
  const app = await startApp({ script, env, options: { banner: null, timeout: 60_000, ...options } });
  try {
    const c = await connect(app.path);
    await c.until(">>> ");
    const block = async (word) => {
      app.child.kill("SIGUSR2");
      await waitFor(app.stdout, new RegExp(`^BLOCKING ${word}$`, "m"));
      await sleep(400); // past the heartbeat's threshold
    };
    await fn(c, app, block);
    c.end();
  } finally {
    await app.stop();
  }
}

const NOTICE =
  /^The event loop has been blocked for \d+(\.\d+)? (ms|s), in spinTheLedger \(\S*ledger\.cjs:\d+\)\. This input runs when the loop turns — Ctrl-C cancels it; \.pause evaluates inside the blocked thread now; \.stack shows where it is\.\n$/;

test("an input during a JavaScript block is told at once where the loop is held, and runs exactly once after it", T, async () => {
  await withBlockable(LEDGER, { BLOCK_MS: "3000" }, {}, async (c, app, block) => {
    await block("ledger");
    const sent = Date.now();
    c.send("globalThis.runs = (globalThis.runs || 0) + 1\n");
    const notice = await c.until("\n", 1000);
    assert.ok(Date.now() - sent < 1000, `answered after ${Date.now() - sent} ms`);
    assert.match(notice, NOTICE);
    // The answer comes once the loop turns: the input ran, once.
    assert.equal(await c.until(">>> ", 10_000), "1\n>>> ");
    assert.match(app.stdout(), /^UNBLOCKED ledger \d+$/m);
    assert.equal(await c.eval("globalThis.runs"), "1\n");
    assert.match(await httpGet(app.port), /ok \d+/);
  });
});

test("Ctrl-C after the notice cancels the input: it never runs", T, async () => {
  await withBlockable(LEDGER, { BLOCK_MS: "3000" }, {}, async (c, app, block) => {
    await block("ledger");
    c.send("globalThis.ranLate = 1\n");
    assert.match(await c.until("\n", 1000), NOTICE);
    c.send("\x03\n");
    assert.equal(
      await c.until(">>> ", 2000),
      "Cancelled: the event loop is blocked by other code (see .stack) and this input had not started; it will not run\n>>> ",
    );
    assert.ok(!app.stdout().includes("UNBLOCKED"), "answered while the loop was still blocked");
    await waitFor(app.stdout, /^UNBLOCKED ledger/m);
    assert.equal(await c.eval("typeof globalThis.ranLate"), "'undefined'\n");
  });
});

test("at the timeout a waiting input is cancelled, never run later; with .wait it stays queued and runs once", T, async () => {
  await withBlockable(LEDGER, { BLOCK_MS: "2500" }, { timeout: 1000 }, async (c, app, block) => {
    await block("ledger");
    c.send("globalThis.cancelled = 1\n");
    assert.match(await c.until("\n", 1000), NOTICE);
    assert.equal(
      await c.until(">>> ", 3000),
      "Cancelled: this input waited 1000 ms (timeout) for the event loop, which other code keeps blocked; it will not run (.wait keeps inputs waiting instead).\n>>> ",
    );
    await waitFor(app.stdout, /^UNBLOCKED ledger/m);
    assert.equal(await c.eval("typeof globalThis.cancelled"), "'undefined'\n");

    assert.match(await c.eval(".wait"), /^Inputs that wait for a blocked event loop now stay queued/);
    await block("ledger");
    c.send("globalThis.kept = (globalThis.kept || 0) + 1\n");
    assert.match(await c.until("\n", 1000), NOTICE);
    assert.equal(
      await c.until("\n", 3000),
      "Still waiting after 1000 ms (timeout): the event loop is still blocked; this input stays queued (.wait is on) and runs when it turns — Ctrl-C cancels it.\n",
    );
    assert.equal(await c.until(">>> ", 10_000), "1\n>>> ");
    assert.equal(await c.eval("globalThis.kept"), "1\n");
  });
});

test("structured: a {op: blocked} event with the duration and top frame comes before the eval's reply", T, async () => {
  await withBlockable(LEDGER, { BLOCK_MS: "2500" }, {}, async (c, _app, block) => {
    c.send('{"op":"hello","id":1,"protocol":[1]}\n');
    await c.until(/\{"op":"hello".*\n/);
    await block("ledger");
    c.send('{"op":"eval","id":2,"code":"6*7"}\n');
    const blocked = JSON.parse(await c.until("\n", 1000));
    assert.equal(blocked.op, "blocked");
    assert.equal(blocked.id, 2);
    assert.equal(blocked.state, "js");
    assert.ok(blocked.blockedMs >= 250, String(blocked.blockedMs));
    assert.equal(blocked.frame.function, "spinTheLedger");
    assert.match(blocked.frame.file, /ledger\.cjs$/);
    assert.equal(typeof blocked.frame.line, "number");
    assert.match(`${blocked.text}\n`, NOTICE);
    assert.deepEqual(JSON.parse(await c.until("\n", 10_000)), { op: "value", id: 2, text: "42", json: 42 });
  });
});

test("native block (execSync): the notice and .stack say it is outside JavaScript and what can be done", T, async () => {
  await withBlockable(BLOCKER, { BLOCK_KIND: "exec", BLOCK_MS: "3000" }, {}, async (c, app, block) => {
    await block("exec");
    c.send("1+1\n");
    const notice = await c.until("\n", 2500);
    assert.match(
      notice,
      /^The event loop has been blocked for .*, outside JavaScript \(native code: .*\): it cannot be paused or stopped from here\./,
    );
    const stack = await c.eval(".stack", "\n");
    assert.match(
      stack,
      /outside JavaScript .*it can be neither paused nor stopped from here.*process\.report.*gdb or eu-stack -p \d+ can\./,
    );
    assert.equal(await c.until(">>> ", 10_000), "2\n>>> ");
    assert.match(app.stdout(), /^UNBLOCKED exec$/m);
  });
});

test(
  "Atomics.wait: described as a wait, read through the inspector (V8 answers it inside the wait), which goes on to its end",
  T,
  async () => {
    await withBlockable(BLOCKER, { BLOCK_KIND: "atomics", BLOCK_MS: "2500" }, {}, async (c, app, block) => {
      await block("atomics");
      const sent = Date.now();
      c.send("'after the wait'\n");
      const notice = await c.until("\n", 1000);
      assert.ok(Date.now() - sent < 1000);
      assert.match(
        notice,
        /^The event loop has been blocked for .*, in Atomics\.wait called from waitOnAtomics \(\S*blocker\.cjs:\d+\): the thread waits to be notified\./,
      );
      assert.equal(await c.until(">>> ", 10_000), "'after the wait'\n>>> ");
      assert.match(app.stdout(), /^UNBLOCKED atomics$/m);
    });
  },
);

test("issue 10: .stack from a session whose own input is stuck answers at once, in both modes", T, async () => {
  await withBlockable(LEDGER, {}, {}, async (c, app) => {
    c.send("blockEventLoop(2500)\n");
    await sleep(600);
    let asked = Date.now();
    c.send(".stack\n");
    const stack = await c.until(/Locals of blockEventLoop:\n(?: {4}.*\n)+/, 2000);
    assert.ok(Date.now() - asked < 2000);
    assert.match(stack, /at blockEventLoop \(\S*app\.cjs:\d+:\d+\)/);
    assert.match(await c.until(">>> ", 10_000), /^\d+\n>>> $/);

    const s = await connect(app.path);
    s.send('{"op":"hello","id":1,"protocol":[1]}\n');
    await s.until(/\{"op":"hello".*\n/);
    s.send('{"op":"eval","id":2,"code":"blockEventLoop(2500)"}\n');
    await sleep(600);
    asked = Date.now();
    s.send('{"op":"command","id":3,"name":"stack"}\n');
    const reply = JSON.parse(await s.until("\n", 2000));
    assert.ok(Date.now() - asked < 2000);
    assert.equal(reply.id, 3);
    assert.match(reply.text, /at blockEventLoop/);
    assert.equal(JSON.parse(await s.until("\n", 10_000)).op, "value");
    s.end();
  });
});

test("issue 10: a structured interrupt says what it did", T, async () => {
  await withBlockable(LEDGER, {}, {}, async (c, app) => {
    c.end();
    const s = await connect(app.path);
    s.send('{"op":"hello","id":1,"protocol":[1]}\n');
    await s.until(/\{"op":"hello".*\n/);
    s.send('{"op":"interrupt","id":2}\n');
    assert.equal(await s.until("\n"), '{"op":"result","id":2,"text":"nothing to interrupt"}\n');
    s.send('{"op":"eval","id":3,"code":"for (;;) {}"}\n');
    await sleep(300);
    s.send('{"op":"interrupt","id":4}\n');
    const replies = [JSON.parse(await s.until("\n", 5000)), JSON.parse(await s.until("\n", 5000))];
    assert.deepEqual(replies[0], { op: "error", id: 3, text: "Interrupted", error: { name: "Interrupted", message: "interrupted" } });
    assert.deepEqual(replies[1], { op: "result", id: 4, text: "interrupted" });
  });
});
