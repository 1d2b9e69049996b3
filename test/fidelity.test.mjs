// JavaScript's own meaning survives the session: strict mode, `this`, the identity of the app's
// objects, and `require` resolving as the app's own does. Each test runs a real app as a child
// process and talks to it over its socket, in both modes.
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { MODES, openSession, ROOT, startApp, tempDir } from "./helpers.mjs";

const FIDELITY = path.join(ROOT, "test", "fixtures", "fidelity.cjs");
const maskIds = (s) => s.replace(/REPL\d+/g, "REPLn");

/** Runs `fn(session, app)` in a fresh fidelity app (or `script`); always stops it. */
async function withSession(mode, fn, options = {}, script = FIDELITY) {
  const app = await startApp({ mode, script, options: { banner: null, ...options } });
  try {
    const c = await openSession(app);
    await fn(c, app);
    c.end();
  } finally {
    await app.stop();
  }
}

/** Each input's answer, with REPL ids masked. */
async function answers(c, inputs) {
  const out = [];
  for (const input of inputs) out.push(maskIds(await c.eval(input)));
  return out;
}

for (const mode of MODES) {
  test(`${mode}: a function's "use strict" holds: undeclared assignments throw, this is undefined`, async () => {
    await withSession(
      mode,
      async (c) => {
        const cases = [
          ['(function () { "use strict"; undeclared = 1; return "no throw" })()', /^Uncaught ReferenceError: undeclared is not defined\n/],
          ["typeof undeclared + ' ' + ('undeclared' in globalThis)", /^'undefined false'\n$/],
          ['(function(){ "use strict"; return typeof this })()', /^'undefined'\n$/],
          // A nested function, an arrow inside a strict function, a generator, an async function.
          ['(function () { return function () { "use strict"; return this }() })()', /^undefined\n$/],
          ['(function () { "use strict"; return (() => this)() })()', /^undefined\n$/],
          ['function* sg() { "use strict"; yield this }; sg().next().value', /^undefined\n$/],
          ['async function sa() { "use strict"; lost = 1 }; await sa()', /^Uncaught ReferenceError: lost is not defined\n/],
          // Class bodies are strict code.
          ["class Leaky { m() { leaked = 1 } }; new Leaky().m()", /^Uncaught ReferenceError: leaked is not defined\n/],
          ["typeof lost + ' ' + typeof leaked", /^'undefined undefined'\n$/],
          // The whole input can be strict.
          ['"use strict"; topLevel = 1', /^Uncaught ReferenceError: topLevel is not defined\n/],
          ['"use strict"; function inStrict() { return this }; inStrict()', /^undefined\n$/],
          // A strict function may assign what exists: a session name, an app global.
          ['let have = 1; (function () { "use strict"; have = 2 })(); have', /^2\n$/],
          // A strict function's loop still stops at its check.
          ['(function () { "use strict"; for (;;) {} })()', /^Interrupted: the evaluation ran longer than 1000 ms/],
          ["'still here'", /^'still here'\n$/],
        ];
        for (const [input, expected] of cases) assert.match(maskIds(await c.eval(input)), expected, input);
      },
      { timeout: 1000 },
    );
  });

  test(`${mode}: a function called without a receiver sees globalThis (sloppy) or undefined (strict), never the session's scope`, async () => {
    await withSession(mode, async (c) => {
      const got = await answers(c, [
        'function sf() { "use strict"; return this }; sf()',
        "sf()",
        "function sl() { return this === globalThis }; sl()",
        "sl()",
        "[sf, sl].map((f) => f())",
        "sf`tagged`",
        "sf?.()",
        "class A { m() { return this } }; const detached = new A().m; detached()",
        "const { m } = A.prototype; m()",
        "(() => this === globalThis)()",
        "this === globalThis",
        "function* gen() { yield this === globalThis }; gen().next().value",
        "async function as() { return this === globalThis }; await as()",
        "async function ast() { 'use strict'; return this }; await ast()",
        "const bound = sf.bind('b'); bound()",
        "sf.call(7)",
        // The namespace's functions and the app's globals, called by their bare names.
        "nsSloppy()",
        "nsStrict()",
        "globalSloppy()",
        "globalStrict()",
        // Called as a method, a function keeps its receiver; so does the user's own `with`.
        "const o = { sf }; o.sf() === o",
        "with ({ k() { return this.tag }, tag: 'w' }) k()",
      ]);
      assert.deepEqual(got, [
        "undefined\n",
        "undefined\n",
        "true\n",
        "true\n",
        "[ undefined, true ]\n",
        "undefined\n",
        "undefined\n",
        "undefined\n",
        "undefined\n",
        "true\n",
        "true\n",
        "true\n",
        "true\n",
        "undefined\n",
        "'b'\n",
        "7\n",
        "'globalThis'\n",
        "'undefined'\n",
        "'globalThis'\n",
        "'undefined'\n",
        "true\n",
        "'w'\n",
      ]);
    });
  });

  test(`${mode}: process and every other global the session shows is the app's own object`, async () => {
    await withSession(mode, async (c) => {
      const got = await answers(c, [
        "process === globalThis.process",
        "require('node:process') === process",
        "require('node:util').types.isProxy(process)",
        "new Map([[process, 'found']]).get(globalThis.process)",
        "const p = process; p.pid === globalThis.process.pid && p === globalThis.process",
        // Only the session's console and its guarded timers stand in for globals.
        "Object.getOwnPropertyNames(globalThis).filter((n) => { try { return !Object.is(eval(n), globalThis[n]) } catch { return true } }).sort().join()",
        // A nextTick callback's throw is still reported to the session; a local `process` is left alone.
        "(function (process) { return process.nextTick })({ nextTick: 'mine' })",
        "process['nextTick'](() => { throw new Error('ticked') }); 'scheduled'",
      ]);
      assert.deepEqual(got.slice(0, 7), [
        "true\n",
        "true\n",
        "false\n",
        "'found'\n",
        "true\n",
        "'console,queueMicrotask,setImmediate,setInterval,setTimeout'\n",
        "'mine'\n",
      ]);
      // Inline, the report can come before the result.
      assert.match(got[7], /'scheduled'\n/);
      // The report may come after the prompt (then a fresh prompt follows it): read up to the answer.
      c.send("'after'\n");
      const rest = maskIds(got[7] + (await c.until("'after'\n>>> ")).replace(/>>> $/, ""));
      assert.match(rest, /Uncaught Error: ticked\n {4}at REPLn:1:\d+\n/);
      assert.match(rest, /'after'\n$/);
    });
  });

  test(`${mode}: sloppy code's undeclared assignments stay in the session, wherever they run`, async () => {
    await withSession(mode, async (c) => {
      const got = await answers(c, [
        "function setLater() { later = 5 }; setLater(); later",
        "for (looped of [1, 2]) ; looped",
        "[d1, { d2 }] = [1, { d2: 2 }]; d1 + d2",
        "counter = 0; counter++; counter",
        "await new Promise((r) => setTimeout(() => { viaTimer = 'timer'; r() }, 5)); viaTimer",
        "['later', 'looped', 'd1', 'd2', 'counter', 'viaTimer'].filter((n) => n in globalThis)",
        // Held for an assignment still to come, a name reads as not defined until then.
        "function neverCalled() { pending = 1 }; typeof pending",
        "pending",
        // An app global is assigned, not shadowed.
        "globalSloppy = globalStrict; globalThis.globalSloppy === globalStrict",
      ]);
      assert.deepEqual(got, [
        "5\n",
        "2\n",
        "3\n",
        "1\n",
        "'timer'\n",
        "[]\n",
        "'undefined'\n",
        "Uncaught ReferenceError: pending is not defined\n    at REPLn:1:1\n",
        "true\n",
      ]);
    });
  });
}

/**
 * An installed app as npm lays it out: proj/node_modules/the-app (with a dependency of its own,
 * only-here, that nothing else has) and its bin link proj/node_modules/.bin/the-app, which is
 * how npx and npm scripts start it. Returns the link and the app's real directory.
 */
function installedApp(main = "index.js", body = `require(${JSON.stringify(FIDELITY)});\n`) {
  const proj = fs.realpathSync(tempDir("mh-installed-"));
  const appDir = path.join(proj, "node_modules", "the-app");
  const dep = path.join(appDir, "node_modules", "only-here");
  fs.mkdirSync(dep, { recursive: true });
  fs.writeFileSync(path.join(dep, "package.json"), JSON.stringify({ name: "only-here", version: "1.0.0", main: "main.js" }));
  fs.writeFileSync(path.join(dep, "main.js"), "module.exports = 'only here';\n");
  fs.writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: "the-app", version: "1.0.0", bin: { "the-app": main } }));
  fs.writeFileSync(path.join(appDir, main), body);
  fs.mkdirSync(path.join(proj, "node_modules", ".bin"));
  const link = path.join(proj, "node_modules", ".bin", "the-app");
  fs.symlinkSync(path.join("..", "the-app", main), link);
  return { link, appDir, dep };
}

for (const mode of MODES) {
  test(`${mode}: require and require.resolve resolve from the real path of an app started through node_modules/.bin`, async () => {
    const { link, dep } = installedApp();
    await withSession(
      mode,
      async (c) => {
        assert.equal(await c.eval("require.resolve('only-here')"), `${JSON.stringify(path.join(dep, "main.js")).replace(/"/g, "'")}\n`);
        assert.equal(await c.eval("require('only-here')"), "'only here'\n");
        // Relative paths resolve from the app's own directory too.
        assert.equal(await c.eval("require('./package.json').name"), "'the-app'\n");
      },
      {},
      link,
    );
  });

  test(`${mode}: an ES module app started through a bin link gets the same require`, async () => {
    const { link, dep } = installedApp("main.mjs", `import ${JSON.stringify(FIDELITY)};\n`);
    await withSession(
      mode,
      async (c) => {
        assert.equal(await c.eval("require.resolve('only-here')"), `${JSON.stringify(path.join(dep, "main.js")).replace(/"/g, "'")}\n`);
      },
      {},
      link,
    );
  });

  test(`${mode}: without a main module (node -e), require resolves from the working directory`, async () => {
    const app = await startApp({ mode, script: "-e", args: [`require(${JSON.stringify(FIDELITY)})`], options: { banner: null } });
    try {
      const c = await openSession(app);
      // The tests run from the package's root, whose node_modules has acorn.
      const fromCwd = createRequire(path.join(process.cwd(), "[test]")).resolve("acorn");
      assert.equal(await c.eval("require.resolve('acorn')"), `'${fromCwd}'\n`);
      c.end();
    } finally {
      await app.stop();
    }
  });
}
