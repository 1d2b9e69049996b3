// Human line mode, end to end: banner, prompts, evaluation in the app's realm, REPL-style
// printing, continuation, errors, declarations, console, commands, namespace and scopes.
// Every test runs the real fixture app as a child process and talks to it over its socket.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { connect, MODES, nc, ROOT, requireTool, socat, startApp } from "./helpers.mjs";

requireTool("nc", "socat");

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** Evaluation ids differ between runs and connections; stacks are compared with them masked. */
const maskIds = (s) => s.replace(/REPL\d+/g, "REPLn");
/** Runs `fn(app)` against a fresh fixture app and always stops it. */
async function withApp(mode, options, fn) {
  const app = await startApp({ mode, options });
  try {
    return await fn(app);
  } finally {
    await app.stop();
  }
}
/** Stack lines that belong to the manhole or to what runs it, never to the user. */
function assertNoInternalFrames(text) {
  for (const bad of [
    "dist/agent",
    "dist\\agent",
    "manhole-runner",
    "manhole-timed",
    "node:internal",
    "evaluator.js",
    "node:vm",
    "node:events",
  ]) {
    assert.ok(!text.includes(bad), `output shows an internal frame (${bad}):\n${text}`);
  }
}

for (const mode of MODES) {
  test(`${mode}: the default banner names pid, node, app, uptime and .help, then the prompt`, async () => {
    await withApp(mode, {}, async (app) => {
      const { stdout, code } = await nc(app.path, "");
      assert.equal(code, 0);
      const expected = new RegExp(
        `^manhole: pid ${app.child.pid}, node ${esc(process.version)}, app ${esc(`${pkg.name}@${pkg.version}`)}, up \\d+(\\.\\d+)? (ms|s)\\n` +
          "Type \\.help for commands; \\.exit or Ctrl-D leaves\\.\\n>>> $",
      );
      assert.match(stdout, expected);
    });
  });

  test(`${mode}: a custom banner is shown as is; custom prompt and continuation prompt are used`, async () => {
    await withApp(mode, { banner: "Hello ops\nbe careful\n", prompt: "app> ", continuationPrompt: "app.. " }, async (app) => {
      const { stdout } = await nc(app.path, "1 +\n2\n{\n'x' }\n");
      assert.equal(stdout, "Hello ops\nbe careful\napp> app.. 3\napp> app.. 'x'\napp> ");
      // The same through a step-by-step client: the continuation prompt arrives before the next line is sent.
      const c = await connect(app.path);
      assert.equal(await c.until("app> "), "Hello ops\nbe careful\napp> ");
      c.send("[1,\n");
      assert.equal(await c.until("app.. "), "app.. ");
      assert.equal(await c.eval("2]", "app> "), "[ 1, 2 ]\n");
      c.end();
      await c.closed();
    });
  });

  test(`${mode}: banner null shows no banner, only the prompt`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      assert.equal((await nc(app.path, "")).stdout, ">>> ");
      assert.equal((await nc(app.path, "'x'\n")).stdout, ">>> 'x'\n>>> ");
    });
  });

  test(`${mode}: inputs run in the app's process and realm: globals, require, import, instanceof`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "process.pid",
        "typeof appState",
        "appState === app",
        "appState.items",
        "blockEventLoop.name",
        "typeof blockEventLoop(0)",
        "typeof require('node:os').cpus",
        "require('node:os') === require('os')",
        "(await import('node:path')).join('a', 'b')",
        "[1,2] instanceof Array",
        "appState.x = [1, 2]",
        "appState.x instanceof Array",
        "Array.isArray(appState.x)",
        // an object the app made and one the manhole made share their prototype: one realm
        "Object.getPrototypeOf(appState.x) === Object.getPrototypeOf(appState.items)",
        "({}).constructor === appState.constructor",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assert.equal(
        stdout,
        `>>> ${app.child.pid}\n>>> 'object'\n>>> true\n>>> [ 'a', 'b' ]\n>>> 'blockEventLoop'\n>>> 'number'\n>>> 'function'\n>>> true\n>>> 'a/b'\n` +
          ">>> true\n>>> [ 1, 2 ]\n>>> true\n>>> true\n>>> true\n>>> true\n>>> ",
      );
      // The array stays with the app after the session ends: a new session sees it, still an Array.
      assert.equal((await nc(app.path, "Array.isArray(appState.x) && appState.x instanceof Array\n")).stdout, ">>> true\n>>> ");
    });
  });

  test(`${mode}: results print like Node's REPL (util.inspect)`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "'hi'",
        '"it\'s"',
        "({ a: 1 })",
        "{ a: 1 }",
        "[1, 'two', { three: 3 }]",
        "new Map([[1, 2]])",
        "null",
        "42n",
        "let y = 1",
        "if (true) {}",
        "void 0",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assert.equal(
        stdout,
        ">>> 'hi'\n>>> \"it's\"\n>>> { a: 1 }\n>>> { a: 1 }\n>>> [ 1, 'two', { three: 3 } ]\n>>> Map(1) { 1 => 2 }\n>>> null\n>>> 42n\n" +
          ">>> undefined\n>>> undefined\n>>> undefined\n>>> ",
      );
    });
  });

  test(`${mode}: incomplete input gets the continuation prompt and is completed by later lines`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = ["{", "1+", "2 }", "`a", "b`", "1 +", "2", "function add(a, b) {", "  return a + b", "}", "add(2, 3)"].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assert.equal(stdout, ">>> ... ... 3\n>>> ... 'a\\nb'\n>>> ... 3\n>>> ... ... undefined\n>>> 5\n>>> ");
      // Step by step: each continuation prompt is sent before the next line arrives.
      const c = await connect(app.path);
      await c.until(">>> ");
      c.send("const o = {\n");
      assert.equal(await c.until("... "), "... ");
      c.send("  k: `x\n");
      assert.equal(await c.until("... "), "... ");
      c.send("y` +\n");
      assert.equal(await c.until("... "), "... ");
      assert.equal(await c.eval("'z' }"), "undefined\n");
      assert.equal(await c.eval("o"), "{ k: 'x\\nyz' }\n");
      c.end();
      await c.closed();
    });
  });

  test(`${mode}: Ctrl-C drops a half-typed input, also when it comes in the same write`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const c = await connect(app.path);
      await c.until(">>> ");
      c.send("for (;;) {\n");
      assert.equal(await c.until("... "), "... ");
      c.send("\x03\n");
      assert.equal(await c.until(">>> "), "(input cleared)\n>>> ");
      c.send("for (;;) {\n\x03\n1+1\n");
      assert.equal(await c.until("2\n>>> "), "... (input cleared)\n>>> 2\n>>> ");
      c.end();
      await c.closed();
    });
  });

  test(`${mode}: Ctrl-C with nothing typed stops an earlier input's timer that holds the loop, and says so`, {
    skip: mode === "inline" ? "inline: nothing can read the socket while the loop is held" : false,
  }, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const c = await connect(app.path);
      await c.until(">>> ");
      assert.equal(await c.eval("setTimeout(() => { for (;;) {} }, 50); 'armed'"), "'armed'\n");
      await new Promise((r) => setTimeout(r, 1500)); // the loop has been held for a while
      c.send("\x03\n");
      // The timer's callback is told as a throw of its own, then what the Ctrl-C did.
      assert.equal(
        await c.until(">>> "),
        "Uncaught Interrupted: evaluation stopped by the manhole\nInterrupted: manhole code that held the event loop was stopped\n>>> ",
      );
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
      await c.closed();
    });
  });

  test(`${mode}: syntax and thrown errors print as Uncaught with user frames only; the session goes on`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "throw new Error('boom')",
        "1 +* 2",
        "function g() { throw new TypeError('bad') }",
        "g()",
        "null.x",
        "appState.items.map(() => { throw new RangeError('r') })",
        "throw 42",
        "await Promise.reject(new Error('later'))",
        "nope",
        "'still here'",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assertNoInternalFrames(stdout);
      // Lines and columns are checked where the input runs unchanged; a hoisted function and an
      // awaited input are rewritten before they run, so only their frames' shape is checked.
      const masked = maskIds(stdout)
        .replace(/at g \(REPLn:\d+:\d+\)/, "at g (REPLn:L:C)")
        .replace(/(Uncaught Error: later\n)((?: {4}at REPLn:\d+:\d+\n)+)/, "$1    at REPLn:L:C...\n");
      assert.equal(
        masked,
        ">>> Uncaught Error: boom\n    at REPLn:1:7\n" +
          ">>> Uncaught SyntaxError: Unexpected token '*'\n" +
          ">>> undefined\n" +
          ">>> Uncaught TypeError: bad\n    at g (REPLn:L:C)\n    at REPLn:1:1\n" +
          ">>> Uncaught TypeError: Cannot read properties of null (reading 'x')\n    at REPLn:1:6\n" +
          ">>> Uncaught RangeError: r\n    at REPLn:1:34\n    at Array.map (<anonymous>)\n    at REPLn:1:16\n" +
          ">>> Uncaught 42\n" +
          ">>> Uncaught Error: later\n    at REPLn:L:C...\n" +
          ">>> Uncaught ReferenceError: nope is not defined\n    at REPLn:1:1\n" +
          ">>> 'still here'\n>>> ",
      );
    });
  });

  test(`${mode}: a rejected promise or an error as a value prints user frames only; the rejection is still reported`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const { stdout } = await nc(app.path, "Promise.reject(new Error('boom'))\nnew Error('plain')\n'after'\n");
      assertNoInternalFrames(stdout);
      const value = "Promise {\n  <rejected> Error: boom\n      at REPLn:1:16\n}\n";
      const report = "Uncaught (in promise) Error: boom\n    at REPLn:1:16\n";
      // A worker relays the result before the report; without one, the report's callback runs first.
      const first = mode === "threaded" ? `>>> ${value}>>> ${report}` : `>>> ${report}${value}>>> `;
      assert.equal(maskIds(stdout), `${first}Error: plain\n    at REPLn:1:1\n>>> 'after'\n>>> `);
    });
  });

  test(`${mode}: top-level await; let, const, class and function persist; bare assignment stays in the session`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "await Promise.resolve(42)",
        "await new Promise((r) => setTimeout(() => r('later'), 5))",
        "const { sep } = await import('node:path')",
        "sep",
        "let n = 1",
        "n += 1",
        "const k = 'c'",
        "k",
        "class Point { constructor(x) { this.x = x } }",
        "new Point(3)",
        "function sq(v) { return v * v }",
        "sq(4)",
        "f = 5 + 5",
        "f",
        "globalThis.f",
        "'f' in globalThis",
        "'n' in globalThis || 'k' in globalThis || 'Point' in globalThis || 'sq' in globalThis",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assert.equal(
        stdout,
        ">>> 42\n>>> 'later'\n>>> undefined\n>>> '/'\n>>> undefined\n>>> 2\n>>> undefined\n>>> 'c'\n>>> undefined\n>>> Point { x: 3 }\n" +
          ">>> undefined\n>>> 16\n>>> 10\n>>> 10\n>>> undefined\n>>> false\n>>> false\n>>> ",
      );
      // A new session of the same app: the bare assignment did not become an app global.
      assert.equal((await nc(app.path, "typeof f\n")).stdout, ">>> 'undefined'\n>>> ");
    });
  });

  test(`${mode}: a top-level const cannot be assigned, in the same input, a later one or a function; it keeps its value`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "const x = 1",
        "x = 2",
        "x++",
        "x += 1",
        "[x] = [3]",
        "({ x } = { x: 4 })",
        "function bump() { x = 9 }",
        "bump()",
        "x",
        "const y = 'y'; y = 'z'",
        "y",
        "const { a, b: [c], ...r } = { a: 1, b: [2], d: 4 }",
        "a = 0",
        "c = 0",
        "r = 0",
        "[a, c, r]",
        "const w = await Promise.resolve(5); w = 6",
        "w",
        "const named = () => 1; named.name",
        "delete named",
        "named.name",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assertNoInternalFrames(stdout);
      const thrown = (at) => `>>> Uncaught TypeError: Assignment to constant variable.\n${at.map((f) => `    at ${f}\n`).join("")}`;
      assert.equal(
        maskIds(stdout),
        ">>> undefined\n" +
          thrown(["REPLn:1:3"]) +
          thrown(["REPLn:1:2"]) +
          thrown(["REPLn:1:3"]) +
          thrown(["REPLn:1:2"]) +
          thrown(["REPLn:1:4"]) +
          ">>> undefined\n" +
          thrown(["bump (REPLn:1:21)", "REPLn:1:1"]) +
          ">>> 1\n" +
          thrown(["REPLn:1:18"]) +
          ">>> 'y'\n" +
          ">>> undefined\n" +
          thrown(["REPLn:1:3"]) +
          thrown(["REPLn:1:3"]) +
          thrown(["REPLn:1:3"]) +
          ">>> [ 1, 2, { d: 4 } ]\n" +
          thrown(["REPLn:1:39"]) +
          ">>> 5\n" +
          ">>> 'named'\n>>> false\n>>> 'named'\n>>> ",
      );
    });
  });

  test(`${mode}: a later const, let, class or function redeclares a const; the latest decides; var does not`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "const x = 1",
        "let x = 2",
        "x = 3",
        "const x = 'c'",
        "x = 4",
        "x",
        "class x {}",
        "x = 5",
        "const x = 6",
        "function x() { return 7 }",
        "x = 8",
        "const x = 9",
        "var x = 10",
        "x",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      const thrown = (column) => `>>> Uncaught TypeError: Assignment to constant variable.\n    at REPLn:1:${column}\n`;
      assert.equal(
        maskIds(stdout),
        ">>> undefined\n>>> undefined\n>>> 3\n>>> undefined\n" +
          thrown(3) +
          ">>> 'c'\n>>> undefined\n>>> 5\n>>> undefined\n>>> undefined\n>>> 8\n>>> undefined\n" +
          thrown(6) +
          ">>> 9\n>>> ",
      );
    });
  });

  test(`${mode}: a const inside a block, function or loop keeps JavaScript's own rules`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const input = [
        "{ const q = 1; q = 2 }",
        "typeof q",
        "for (const k of [1]) { k = 2 }",
        "for (const k of [1, 2]) { let m = k; m = 3 }",
        "typeof k",
        "function f() { const v = 1; v = 2 }",
        "f()",
        "(() => { const h = 1; let g = h; g = 2; return [h, g] })()",
      ].join("\n");
      const { stdout } = await nc(app.path, `${input}\n`);
      assertNoInternalFrames(stdout);
      const thrown = (...at) => `>>> Uncaught TypeError: Assignment to constant variable.\n${at.map((f) => `    at ${f}\n`).join("")}`;
      assert.equal(
        maskIds(stdout),
        thrown("REPLn:1:18") +
          ">>> 'undefined'\n" +
          thrown("REPLn:1:26") +
          ">>> 3\n>>> 'undefined'\n>>> undefined\n" +
          thrown("f (REPLn:1:31)", "REPLn:1:1") +
          ">>> [ 1, 2 ]\n>>> ",
      );
    });
  });

  test(`${mode}: console.log in the manhole prints to the session, not to the app's stdout`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const { stdout } = await nc(app.path, "console.log('hello from manhole', { a: 1 })\nconsole.log('x%sy', 1); 7\n");
      assert.equal(stdout, ">>> hello from manhole { a: 1 }\nundefined\n>>> x1y\n7\n>>> ");
      // The app still answers, so anything it printed has had its chance to arrive.
      assert.equal((await nc(app.path, "1\n")).stdout, ">>> 1\n>>> ");
      assert.ok(!app.stdout().includes("hello from manhole"), `app stdout: ${app.stdout()}`);
      assert.ok(!app.stdout().includes("x1y"), `app stdout: ${app.stdout()}`);
    });
  });

  test(`${mode}: process.exit(0) typed in the manhole ends the app with code 0`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const c = await connect(app.path);
      await c.until(">>> ");
      c.send("process.exit(0)\n");
      assert.deepEqual(await app.exit, { code: 0, signal: null });
      await c.closed();
    });
  });

  test(`${mode}: .exit and EOF end only the session; the app answers a new connection`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const c = await connect(app.path);
      await c.until(">>> ");
      assert.equal(await c.eval("let mine = 1"), "undefined\n");
      c.send(".exit\n");
      await c.closed();
      assert.equal(c.rest(), "");
      assert.equal(app.child.exitCode, null);
      // EOF (nc half-closes after its input): the last answer still arrives, then the session ends.
      const eof = await nc(app.path, "let other = 2\nother\n");
      assert.equal(eof.code, 0);
      assert.equal(eof.stdout, ">>> undefined\n>>> 2\n>>> ");
      // .exit through nc: nothing after it is evaluated.
      const ex = await nc(app.path, "1\n.exit\n2\n");
      assert.equal(ex.stdout, ">>> 1\n>>> ");
      // The app is alive and a new session starts clean.
      const again = await nc(app.path, "typeof mine + ' ' + typeof other\nappState.items.length\n");
      assert.equal(again.stdout, ">>> 'undefined undefined'\n>>> 2\n>>> ");
      assert.equal(app.child.exitCode, null);
    });
  });

  test(`${mode}: .help lists the commands and the session goes on`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const { stdout } = await nc(app.path, ".help\n1 + 1\n");
      assert.ok(stdout.startsWith(">>> "), stdout);
      assert.ok(stdout.endsWith(">>> 2\n>>> "), stdout);
      for (const name of ["help", "exit", "break", "stack"]) {
        assert.match(stdout, new RegExp(`^(>>> )?\\.${name} +\\S`, "m"), `.help should list .${name}:\n${stdout}`);
      }
    });
  });

  test(`${mode}: namespace names are visible in every session; scopes are per session by default`, async () => {
    await withApp(mode, { banner: null }, async (app) => {
      const a = await connect(app.path);
      const b = await connect(app.path);
      await a.until(">>> ");
      await b.until(">>> ");
      assert.equal(await a.eval("app === appState"), "true\n");
      assert.equal(await b.eval("app.items"), "[ 'a', 'b' ]\n");
      assert.equal(await b.eval("typeof server.listen"), "'function'\n");
      assert.equal(await a.eval("let secret = 'A'"), "undefined\n");
      assert.equal(await a.eval("loose = 1"), "1\n");
      assert.equal(maskIds(await b.eval("secret")), "Uncaught ReferenceError: secret is not defined\n    at REPLn:1:1\n");
      assert.equal(await b.eval("typeof loose"), "'undefined'\n");
      assert.equal(await b.eval("let secret = 'B'"), "undefined\n");
      assert.equal(await a.eval("secret"), "'A'\n");
      assert.equal(await b.eval("secret"), "'B'\n");
      // A change to a namespace object is the app's own object changing: both see it.
      assert.equal(await a.eval("app.items.push('c')"), "3\n");
      assert.equal(await b.eval("appState.items"), "[ 'a', 'b', 'c' ]\n");
      a.end();
      b.end();
      await Promise.all([a.closed(), b.closed()]);
    });
  });

  test(`${mode}: shared: true gives all sessions one scope`, async () => {
    await withApp(mode, { banner: null, shared: true }, async (app) => {
      const a = await connect(app.path);
      const b = await connect(app.path);
      await a.until(">>> ");
      await b.until(">>> ");
      assert.equal(await a.eval("let secret = 'A'"), "undefined\n");
      assert.equal(await b.eval("secret"), "'A'\n");
      assert.equal(await b.eval("secret = 'B'"), "'B'\n");
      assert.equal(await a.eval("secret"), "'B'\n");
      assert.equal(await a.eval("function hello() { return 'hi from a' }"), "undefined\n");
      assert.equal(await b.eval("hello()"), "'hi from a'\n");
      assert.equal(await b.eval("app.items.length"), "2\n");
      assert.equal(await b.eval("typeof globalThis.secret"), "'undefined'\n");
      a.end();
      b.end();
      await Promise.all([a.closed(), b.closed()]);
      // Later sessions join the same scope.
      assert.equal((await nc(app.path, "secret\n")).stdout, ">>> 'B'\n>>> ");
    });
  });

  test(`${mode}: a const holds in every session of a shared scope and only in its own session otherwise`, async () => {
    const thrown = "Uncaught TypeError: Assignment to constant variable.\n    at REPLn:1:7\n";
    await withApp(mode, { banner: null, shared: true }, async (app) => {
      const a = await connect(app.path);
      const b = await connect(app.path);
      await a.until(">>> ");
      await b.until(">>> ");
      assert.equal(await a.eval("const limit = 10"), "undefined\n");
      assert.equal(maskIds(await b.eval("limit = 11")), thrown);
      assert.equal(await b.eval("limit"), "10\n");
      assert.equal(await b.eval("let limit = 12"), "undefined\n");
      assert.equal(await a.eval("limit = 13"), "13\n");
      assert.equal(await b.eval("limit"), "13\n");
      a.end();
      b.end();
      await Promise.all([a.closed(), b.closed()]);
    });
    await withApp(mode, { banner: null }, async (app) => {
      const a = await connect(app.path);
      const b = await connect(app.path);
      await a.until(">>> ");
      await b.until(">>> ");
      assert.equal(await a.eval("const limit = 10"), "undefined\n");
      assert.equal(await b.eval("limit = 11"), "11\n");
      assert.equal(maskIds(await a.eval("limit = 12")), thrown);
      assert.equal(await a.eval("limit"), "10\n");
      assert.equal(await b.eval("limit"), "11\n");
      a.end();
      b.end();
      await Promise.all([a.closed(), b.closed()]);
    });
  });

  test(`${mode}: the same transcript gives the same bytes with socat as with nc`, async () => {
    await withApp(mode, { banner: "same for both" }, async (app) => {
      const transcript = [
        "let t = { a: [1, 2] }",
        "t",
        "{",
        "t.a.length }",
        "console.log('printed')",
        "throw new Error('oops')",
        "1 +* 2",
        "await Promise.resolve('awaited')",
        ".help",
        "'end'",
      ].join("\n");
      const viaNc = await nc(app.path, `${transcript}\n`);
      const viaSocat = await socat(app.path, `${transcript}\n`);
      assert.equal(viaSocat.code, 0);
      assert.equal(maskIds(viaSocat.stdout), maskIds(viaNc.stdout));
      assert.ok(
        viaNc.stdout.startsWith("same for both\n>>> undefined\n>>> { a: [ 1, 2 ] }\n>>> ... 2\n>>> printed\nundefined\n"),
        viaNc.stdout,
      );
      assert.ok(viaNc.stdout.endsWith(">>> 'end'\n>>> "), viaNc.stdout);
      assertNoInternalFrames(viaNc.stdout);
    });
  });
}
