// Threaded mode: the worker answers while the main thread is blocked, reads its stack,
// stops runaway evaluations, and never keeps the app alive or loses an input.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { connect, nc, ROOT, httpGet as rawHttpGet, requireTool, startApp } from "./helpers.mjs";

requireTool("nc");

const BLOCKER = path.join(ROOT, "test", "fixtures", "blocker.cjs");
const SHORT_LIVED = path.join(ROOT, "test", "fixtures", "short-lived.cjs");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The app's HTTP answer; fails instead of hanging when its event loop stays blocked. */
const httpGet = (port, ms = 10_000) =>
  Promise.race([
    rawHttpGet(port),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no HTTP answer within ${ms} ms`)), ms).unref()),
  ]);
/** Each test fails rather than hangs. */
const T = { timeout: 30_000 };

/** Resolves once `read()` matches `pattern`, or rejects after `ms`. */
async function waitFor(read, pattern, ms = 10_000) {
  const until = Date.now() + ms;
  while (!pattern.test(read())) {
    if (Date.now() > until) throw new Error(`timeout waiting for ${pattern}; got: ${JSON.stringify(read())}`);
    await sleep(20);
  }
}

/** Starts blocker.cjs and makes its main thread block (kind: spin | atomics | exec) for `ms`. */
async function startBlocked(kind, ms = 3000) {
  const app = await startApp({ script: BLOCKER, env: { BLOCK_KIND: kind, BLOCK_MS: String(ms) } });
  app.child.kill("SIGUSR2");
  await waitFor(app.stdout, new RegExp(`^BLOCKING ${kind}$`, "m"));
  // Past the heartbeat's threshold (250 ms), so the worker sees the loop as blocked.
  await sleep(600);
  return app;
}

/** Runs `fn` with a session of `app`, past its banner and first prompt; stops the app after. */
async function inSession(app, fn) {
  try {
    const c = await connect(app.path);
    const greeting = await c.until(">>> ", 10_000);
    await fn(c, greeting);
    c.end();
  } finally {
    await app.stop();
  }
}

/** Runs `fn` with a session of a fresh app (timeout 60 s, so no pass comes from the timeout), past its first prompt. */
async function withPrompt(fn) {
  const app = await startApp({ options: { timeout: 60_000, banner: null } });
  await inSession(app, async (c, greeting) => {
    assert.equal(greeting, ">>> ");
    await fn(c, app);
  });
}

/** An `nc -U` client whose stdin is written step by step. */
function ncProcess(socketPath) {
  const child = spawn("nc", ["-N", "-U", socketPath], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stdin.on("error", () => {});
  const exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    write: (data) => child.stdin.write(data),
    end: () => child.stdin.end(),
    out: () => out,
    waitFor: (pattern, ms) => waitFor(() => out, pattern, ms),
    exit,
    kill: () => child.kill("SIGKILL"),
  };
}

test("blocked in app code: banner warns, .stack shows the blocking function and its locals, the app carries on", T, async () => {
  const app = await startBlocked("spin", 3000);
  try {
    const c = await connect(app.path);
    const banner = await c.until(">>> ", 10_000);
    assert.match(banner, /WARNING: the event loop is blocked for \d+(\.\d+)? (ms|s) \(try \.stack\)/);
    const stack = await c.eval(".stack");
    assert.match(stack, /^Main thread: event loop blocked for /);
    assert.match(stack, /at blockEventLoop \(\S*app\.cjs:\d+:\d+\)/);
    assert.match(stack, /blocker\.cjs:\d+:\d+/);
    assert.match(stack, /Locals of blockEventLoop:/);
    assert.match(stack, /^\s+until = \d+$/m);
    assert.match(stack, /^\s+spins = \d+$/m);
    assert.match(stack, /^\s+ms = 3000$/m);
    // The main thread is left alone: its block finishes and the app answers again.
    await waitFor(app.stdout, /^UNBLOCKED spin$/m);
    assert.match(await httpGet(app.port), /ok \d+/);
    assert.equal(await c.eval("1+1"), "2\n");
    assert.match(await c.eval(".stack"), /event loop is responsive/);
    c.end();
  } finally {
    await app.stop();
  }
});

test("blocked in one long builtin call: .stack shows the frames as sampled and says the locals were not read", T, async () => {
  const app = await startBlocked("regex");
  try {
    const c = await connect(app.path);
    assert.match(await c.until(">>> ", 10_000), /WARNING: the event loop is blocked for /);
    for (let i = 0; i < 2; i++) {
      // The thread never comes back to a statement of its own, so it is never stopped: each
      // .stack answers from a fresh sample, and none leaves it paused.
      const stack = await c.eval(".stack");
      assert.match(stack, /^Main thread: event loop blocked for /);
      assert.match(stack, /\n {4}at RegExp\.test \(<anonymous>\)\n {4}at backtrack \(\S*blocker\.cjs:\d+:\d+\)\n/);
      assert.match(
        stack,
        /^Locals: not read \(backtrack did not reach a statement where it could be stopped safely within 1 s\); the frames are as sampled\.$/m,
      );
      assert.doesNotMatch(stack, /Locals of/);
    }
    c.end();
  } finally {
    app.child.kill("SIGKILL");
    await app.stop();
  }
});

test("blocked in execSync: .stack answers plainly that the main thread is outside JavaScript", T, async () => {
  const app = await startBlocked("exec", 3000);
  try {
    const c = await connect(app.path);
    assert.match(await c.until(">>> ", 10_000), /WARNING: the event loop is blocked for /);
    const stack = await c.eval(".stack", ">>> ");
    assert.match(stack, /blocked for .*outside JavaScript/);
    await waitFor(app.stdout, /^UNBLOCKED exec$/m);
    assert.match(await httpGet(app.port), /ok \d+/);
    assert.equal(await c.eval("1+1"), "2\n");
    // The Debugger enable left waiting during the block does not leave the thread paused or the next .stack confused.
    assert.match(await c.eval(".stack"), /event loop is responsive/);
    c.end();
  } finally {
    await app.stop();
  }
});

test("blocked in Atomics.wait: .stack answers promptly and the wait runs to its end", T, async () => {
  const app = await startBlocked("atomics", 3000);
  try {
    const c = await connect(app.path);
    assert.match(await c.until(">>> ", 10_000), /WARNING: the event loop is blocked for /);
    const stack = await c.eval(".stack");
    // V8 services inspector interrupts inside Atomics.wait, so the JavaScript stack may be readable;
    // otherwise the answer must say plainly that the thread is outside JavaScript.
    assert.match(stack, /at waitOnAtomics \(\S*blocker\.cjs:\d+:\d+\)|outside JavaScript/);
    await waitFor(app.stdout, /^UNBLOCKED atomics$/m);
    assert.match(await httpGet(app.port), /ok \d+/);
    assert.equal(await c.eval("1+1"), "2\n");
    c.end();
  } finally {
    await app.stop();
  }
});

test("runaway evaluations are terminated after the timeout; the app and the session carry on", T, async () => {
  const app = await startApp({ options: { timeout: 1000 } });
  try {
    const c = await connect(app.path);
    await c.until(">>> ");
    for (const code of ["for (;;) await null", "await (async () => { for (;;) await null })()", "while (true) {}"]) {
      c.send(`${code}\n`);
      const out = await c.until(/\n>>> /, 15_000);
      assert.match(out, /Interrupted/, code);
      assert.match(await httpGet(app.port), /ok \d+/, code);
      assert.equal(await c.eval("1+1"), "2\n", code);
    }
    c.end();
  } finally {
    await app.stop();
  }
});

for (const [name, interrupt] of [
  ["a line holding only Ctrl-C", "\x03\n"],
  ["telnet IAC IP", Buffer.from([0xff, 0xf4])],
]) {
  test(`interrupting a runaway evaluation from nc with ${name}`, T, async () => {
    const app = await startApp({ options: { timeout: 60_000 } });
    const client = ncProcess(app.path);
    try {
      await client.waitFor(/>>> $/);
      client.write("while (true) {}\n");
      await sleep(1000);
      client.write(interrupt);
      await client.waitFor(/Interrupted[^\n]*\n>>> $/, 8000);
      assert.match(await httpGet(app.port), /ok \d+/);
      client.write("1+1\n");
      await client.waitFor(/Interrupted[^\n]*\n>>> 2\n>>> $/);
      client.end();
      assert.equal(await client.exit, 0);
    } finally {
      client.kill();
      await app.stop();
    }
  });
}

// An interrupt in the same write as the input it follows reaches the agent before that
// evaluation has started on the main thread; it must still stop it, as soon as it starts.
for (const [name, interrupt] of [
  ["a line holding only Ctrl-C", "\x03\n"],
  ["telnet IAC IP", "\xff\xf4"],
]) {
  test(`${name} in the same write as a runaway input stops it as soon as it starts`, T, async () => {
    await withPrompt(async (c, app) => {
      c.send(Buffer.from(`while (true) {}\n${interrupt}`, "latin1"));
      assert.equal(await c.until(">>> ", 8000), "Interrupted\n>>> ");
      assert.equal(await c.eval("1+1"), "2\n");
      assert.match(await httpGet(app.port), /ok \d+/);
    });
  });
}

test("Ctrl-C in the same write as app code that blocks without checks: it is terminated as soon as it starts", T, async () => {
  await withPrompt(async (c) => {
    c.send("blockEventLoop(60000)\n\x03\n");
    assert.equal(await c.until(">>> ", 8000), "Interrupted\n>>> ");
    assert.equal(await c.eval("1+1"), "2\n");
  });
});

test("Ctrl-C for an input that app code keeps from starting: answered at once, the input never runs", T, async () => {
  const app = await startBlocked("spin", 6000);
  await inSession(app, async (c) => {
    c.send("globalThis.ranLate = 1\n\x03\n");
    assert.equal(
      await c.until(">>> ", 4000),
      "Cancelled: the event loop is blocked by other code (see .stack) and this input had not started; it will not run\n>>> ",
    );
    assert.equal(app.stdout().includes("UNBLOCKED spin"), false, "answered while the loop was still blocked");
    await waitFor(app.stdout, /^UNBLOCKED spin$/m);
    assert.equal(await c.eval("typeof globalThis.ranLate"), "'undefined'\n");
    assert.match(await httpGet(app.port), /ok \d+/);
  });
});

test("Ctrl-C in the same write as an input whose loop runs after an await: the loop is stopped", T, async () => {
  await withPrompt(async (c) => {
    c.send("await 0; while (true) {}\n\x03\n");
    assert.equal(await c.until(">>> ", 8000), "Interrupted\n>>> ");
    assert.match(await c.eval(".stack"), /event loop is responsive/);
    assert.equal(await c.eval("1+1"), "2\n");
  });
});

test("inputs told they will not run never run, however many are cancelled while the loop is blocked", T, async () => {
  const app = await startBlocked("spin", 6000);
  await inSession(app, async (c) => {
    for (const word of ["foo", "bar", "baz"]) {
      c.send(`globalThis.ran = (globalThis.ran || []).concat('${word}')\n\x03\n`);
      assert.match(await c.until(">>> ", 4000), /had not started; it will not run\n>>> $/);
    }
    await waitFor(app.stdout, /^UNBLOCKED spin$/m);
    assert.equal(await c.eval("typeof globalThis.ran"), "'undefined'\n");
  });
});

test("one session's interrupt leaves another session's running evaluation alone", T, async () => {
  const app = await startApp({ options: { timeout: 60_000, banner: null } });
  try {
    const a = await connect(app.path);
    const b = await connect(app.path);
    await a.until(">>> ");
    await b.until(">>> ");
    a.send("await new Promise((r) => setTimeout(r, 8000))\n");
    await sleep(200);
    b.send("{ const t = Date.now(); while (Date.now() - t < 3000) {} } 'B done'\n");
    await sleep(300);
    a.send("\x03\n");
    assert.equal(
      await a.until(">>> ", 8000),
      "Interrupted: the event loop is blocked by other code, not by this evaluation (see .stack); the evaluation keeps waiting\n>>> ",
    );
    assert.equal(await b.until(">>> ", 8000), "'B done'\n>>> ");
    a.end();
    b.end();
  } finally {
    await app.stop();
  }
});

test("Ctrl-C in the same write as two inputs stops the first; the input queued behind it runs", T, async () => {
  await withPrompt(async (c) => {
    c.send("while (true) {}\n'next'\n\x03\n");
    assert.equal(await c.until("'next'\n>>> ", 8000), "Interrupted\n>>> 'next'\n>>> ");
    assert.equal(await c.eval("1+1"), "2\n");
  });
});

/** Says hello on a raw client; returns it with the hello consumed. */
async function structuredClient(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  return c;
}

test("structured: an interrupt in the same write as its eval stops it as soon as it starts", T, async () => {
  const app = await startApp({ options: { timeout: 60_000, banner: null } });
  try {
    const c = await structuredClient(app);
    c.send('{"op":"eval","id":2,"code":"while (true) {}"}\n{"op":"interrupt","id":3}\n');
    assert.equal(
      await c.until(/"id":3.*\n/, 8000),
      '{"op":"error","id":2,"text":"Interrupted","error":{"name":"Interrupted","message":"interrupted"}}\n' +
        '{"op":"result","id":3,"text":"interrupted"}\n',
    );
    c.send('{"op":"eval","id":4,"code":"1+1"}\n');
    assert.equal(await c.until("\n"), '{"op":"value","id":4,"text":"2","json":2}\n');
    c.end();
  } finally {
    await app.stop();
  }
});

/** Manhole code that checks for an interrupt 100000 times: any flag left raised stops it. */
const COUNT = "(() => { let n = 0; for (let i = 0; i < 1e5; i++) n++; return n })()";

test("a stray Ctrl-C, or one for an input that has finished, never interrupts a later evaluation", T, async () => {
  const app = await startApp({ options: { timeout: 60_000, banner: null } });
  try {
    const c = await connect(app.path);
    await c.until(">>> ");
    // While idle, on its own and then in the same write as the next input.
    c.send("\x03\n");
    assert.equal(await c.until(">>> "), "\n>>> ");
    assert.equal(await c.eval(COUNT), "100000\n");
    c.send(`\x03\n${COUNT}\n`);
    assert.equal(await c.until("100000\n>>> "), "\n>>> 100000\n>>> ");
    // Aimed at an input that ends without a check; the next one runs in full.
    c.send(`1+1\n\x03\n${COUNT}\n`);
    assert.equal(await c.until("100000\n>>> "), "2\n>>> 100000\n>>> ");
    c.end();

    const s = await structuredClient(app);
    s.send(`{"op":"eval","id":2,"code":"1+1"}\n{"op":"interrupt","id":3}\n${JSON.stringify({ op: "eval", id: 4, code: COUNT })}\n`);
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(JSON.parse(await s.until("\n")));
    assert.deepEqual(
      replies.sort((a, b) => a.id - b.id),
      [
        { op: "value", id: 2, text: "2", json: 2 },
        { op: "result", id: 3, text: "nothing to interrupt: the evaluation had finished" },
        { op: "value", id: 4, text: "100000", json: 100000 },
      ],
    );
    s.send('{"op":"interrupt","id":5}\n');
    assert.equal(await s.until("\n"), '{"op":"result","id":5,"text":"nothing to interrupt"}\n');
    s.send(`${JSON.stringify({ op: "eval", id: 6, code: COUNT })}\n`);
    assert.equal(await s.until("\n"), '{"op":"value","id":6,"text":"100000","json":100000}\n');
    s.end();
  } finally {
    await app.stop();
  }
});

test("one input at a time per session; another session reads the stack meanwhile", T, async () => {
  const app = await startApp({ options: { timeout: 60_000 } });
  try {
    const { stdout } = await nc(app.path, "await new Promise(r => setTimeout(r, 300)); 'A'\n'B'\n");
    assert.match(stdout, /\n>>> 'A'\n>>> 'B'\n>>> $/);

    const first = await connect(app.path);
    await first.until(">>> ");
    first.send("blockEventLoop(2500)\n'after'\n");
    await sleep(800);
    const second = await connect(app.path);
    assert.match(await second.until(">>> "), /WARNING: the event loop is blocked for /);
    const stack = await second.eval(".stack");
    assert.match(stack, /at blockEventLoop \(\S*app\.cjs:\d+:\d+\)/);
    assert.match(stack, /REPL\d+/);
    const answers = await first.until(/'after'\n>>> /, 10_000);
    assert.match(answers, /^\d+\n>>> 'after'\n>>> $/);
    assert.equal(await second.eval("1+1"), "2\n");
    first.end();
    second.end();
  } finally {
    await app.stop();
  }
});

/** What a stack shown to a session must not show: the manhole's own plumbing, or file URLs. */
function assertOnlyUserFrames(stack) {
  for (const bad of ["evaluator", "containment", "manhole-runner", "manhole-timed", "main-end", "node:internal", "dist/agent", "file://"]) {
    assert.ok(!stack.includes(bad), `.stack shows ${bad}:\n${stack}`);
  }
}

/** Sends `input` in one session, lets it spin, and returns `.stack` read from a second session. */
async function stackWhileSpinning(app, input) {
  const first = await connect(app.path);
  await first.until(">>> ");
  first.send(input);
  await sleep(800);
  const second = await connect(app.path);
  await second.until(">>> ");
  const stack = await second.eval(".stack");
  first.destroy();
  second.end();
  return stack;
}

test(".stack while manhole code spins shows the user's frames as typed, with the top one's locals", T, async () => {
  const app = await startApp({ options: { timeout: 60_000 } });
  try {
    const stack = await stackWhileSpinning(app, "function spin(n) { let i = 0; for (;;) { i++ } }\nspin(3)\n");
    assertOnlyUserFrames(stack);
    const frames = stack.split("\n").filter((l) => /^\s+at /.test(l));
    assert.equal(frames.length, 2, stack);
    assert.match(frames[0], /^ {4}at spin \(REPL\d+:1:\d+\)$/);
    assert.match(frames[1], /^ {4}at REPL\d+:1:1$/);
    assert.match(stack, /^Locals of spin:\n {4}n = 3\n {4}i = \d+$/m);
  } finally {
    await app.stop();
  }
});

test(".stack maps lines within a multi-line input and through calls of callbacks", T, async () => {
  const app = await startApp({ options: { timeout: 60_000 } });
  try {
    const input = "function spin2(n) {\n  let i = 0\n  for (;;) { i++ }\n}\nconst r = [1].map((x) => spin2(x + 4))\n";
    const stack = await stackWhileSpinning(app, input);
    assertOnlyUserFrames(stack);
    const frames = stack.split("\n").filter((l) => /^\s+at /.test(l));
    // The loop is on the third line of the function's input; the call in the arrow and the map call as typed.
    assert.match(frames[0], /^ {4}at spin2 \(REPL(\d+):3:\d+\)$/);
    assert.match(frames[1], /^ {4}at REPL\d+:1:26$/);
    assert.match(frames[2], /^ {4}at REPL\d+:1:15$/);
    assert.match(stack, /^Locals of spin2:\n {4}n = 5\n {4}i = \d+$/m);
  } finally {
    await app.stop();
  }
});

test("structured: .stack maps an input of several lines to its own lines", T, async () => {
  const app = await startApp({ options: { timeout: 60_000 } });
  try {
    const c = await structuredClient(app);
    const code = "const before = 1\nfunction spin3(n) { let i = 0; for (;;) { i++ } }\nspin3(before)";
    c.send(`${JSON.stringify({ op: "eval", id: 2, code })}\n`);
    await sleep(800);
    const second = await connect(app.path);
    await second.until(">>> ");
    const stack = await second.eval(".stack");
    assertOnlyUserFrames(stack);
    const frames = stack.split("\n").filter((l) => /^\s+at /.test(l));
    assert.match(frames[0], /^ {4}at spin3 \(REPL\d+:2:\d+\)$/);
    assert.match(frames[1], /^ {4}at REPL\d+:3:1$/);
    c.destroy();
    second.end();
  } finally {
    await app.stop();
  }
});

test(".stack shows an app function called from the manhole with its file as a path", T, async () => {
  const app = await startApp({ options: { timeout: 60_000 } });
  try {
    const stack = await stackWhileSpinning(app, "blockEventLoop(2500)\n");
    assertOnlyUserFrames(stack);
    const frames = stack.split("\n").filter((l) => /^\s+at /.test(l));
    assert.equal(
      frames[0],
      `    at blockEventLoop (${path.join(ROOT, "test", "fixtures", "app.cjs")}:${frames[0].split(":").slice(-2).join(":")}`,
    );
    assert.match(frames[1], /^ {4}at REPL\d+:1:1$/);
    assert.equal(frames.length, 2, stack);
  } finally {
    await app.stop();
  }
});

test("an app with only a short timer exits by itself with code 0", T, async () => {
  const app = await startApp({ script: SHORT_LIVED });
  const result = await Promise.race([app.exit, new Promise((r) => setTimeout(r, 10_000, "still running").unref())]);
  try {
    assert.match(app.stdout(), /^TIMER$/m);
    assert.deepEqual(result, { code: 0, signal: null });
    assert.equal(fs.existsSync(app.path), false);
  } finally {
    await app.stop();
  }
});

test("process.exit(3) from a session ends the app with code 3 and removes the socket", T, async () => {
  const app = await startApp();
  try {
    assert.ok(fs.existsSync(app.path));
    await nc(app.path, "process.exit(3)\n");
    const result = await Promise.race([app.exit, new Promise((r) => setTimeout(r, 10_000, "still running").unref())]);
    assert.deepEqual(result, { code: 3, signal: null });
    assert.equal(fs.existsSync(app.path), false);
  } finally {
    await app.stop();
  }
});

test("threaded: false: .stack says it needs threaded mode; the basic transcript works", T, async () => {
  const app = await startApp({ mode: "inline", options: { banner: "inline here" } });
  try {
    const { stdout } = await nc(app.path, "x = 6 * 7\nx + 1\n.stack\n'done'\n");
    assert.equal(
      stdout,
      "inline here\n>>> 42\n>>> 43\n>>> The main thread's stack is only available in threaded mode (threaded: false is set).\n>>> 'done'\n>>> ",
    );
  } finally {
    await app.stop();
  }
});
