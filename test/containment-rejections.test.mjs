// A rejection of manhole code never reaches the app: not its `unhandledRejection` listeners
// (which in many servers log and exit), not its `rejectionHandled` ones, not Node's
// --unhandled-rejections mode (strict raises before it emits), not after the manhole closed.
// And the app's own rejections reach all of them exactly as without a manhole.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { MODES, openSession as open, PROMPT, ROOT, startApp, sync } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const THROW_APP = path.join(ROOT, "test", "fixtures", "app-throw.cjs");
const CLOSE_APP = path.join(ROOT, "test", "fixtures", "close-on-signal.cjs");
const count = (text, needle) => text.split(needle).length - 1;
const withFlag = (flag) => ({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} ${flag}`.trim() });

/** Rejections typed in a session, each told to it once: [input, what the session is told]. */
const TYPED = [
  ["void Promise.reject(new Error('typed'))", "Uncaught (in promise) Error: typed"],
  ["void (async () => { await null; throw new Error('async typed') })()", "Uncaught (in promise) Error: async typed"],
  ["setTimeout(() => Promise.reject(42), 20); 0", "Uncaught (in promise) 42"],
  ['require("fs").stat("/", () => Promise.reject(new Error("from a callback")))', "Uncaught (in promise) Error: from a callback"],
];

/** Types each rejection, checks it was told once, and that the app carries on. */
async function typeRejections(app, c) {
  for (const [line, report] of TYPED) {
    c.send(`${line}\n`);
    const told = (await c.until(report, 10_000)) + (await sync(c));
    assert.equal(count(told, report), 1, `${line}: ${JSON.stringify(told)}`);
    assert.equal(app.child.exitCode, null, `${line} ended the app: ${app.stdout()} ${app.stderr()}`);
  }
  assert.equal(await c.eval("1+1"), "2\n");
}

/** Waits for `needle` in the app's stdout (or gives up after 5 s). */
async function stdoutHas(app, needle) {
  for (let i = 0; i < 100 && !app.stdout().includes(needle); i++) await sleep(50);
  return app.stdout().includes(needle);
}

for (const mode of MODES) {
  test(`${mode}: an app's unhandledRejection listener that exits never hears a manhole rejection, and still hears the app's`, async () => {
    const app = await startApp({ mode, script: THROW_APP, env: { MANHOLE_FIXTURE_ON_REJECTION: "exit", MANHOLE_FIXTURE_REJECT: "1" } });
    try {
      const c = await open(app);
      await typeRejections(app, c);
      // Typed code that rejects a promise of the app's that nobody handles: the session's doing.
      c.send('rejectAppPending(new Error("typed rejection")); 1\n');
      await c.until("Uncaught (in promise) Error: typed rejection", 10_000);
      await sync(c);
      // The app's listeners are its own: none of ours among them.
      assert.equal(await c.eval('process.listenerCount("unhandledRejection")'), "1\n");
      assert.doesNotMatch(app.stdout(), /APP REJECTION/);
      // The app's own rejection, with manhole work pending: its listener, and its exit.
      c.send("setInterval(() => {}, 1000); 0\n");
      await c.until(`0\n${PROMPT}`);
      app.child.kill("SIGUSR2");
      const { code } = await app.exit;
      assert.equal(code, 7, app.stderr());
      assert.equal(count(app.stdout(), "APP REJECTION"), 1, app.stdout());
      assert.match(app.stdout(), /^APP REJECTION app boom$/m);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: an app's once('unhandledRejection') listener handles the app's rejection while manhole work is pending`, async () => {
    const app = await startApp({ mode, script: THROW_APP, env: { MANHOLE_FIXTURE_ON_REJECTION: "once", MANHOLE_FIXTURE_REJECT: "1" } });
    try {
      const c = await open(app);
      c.send("setInterval(() => {}, 1000); void Promise.reject(new Error('mine')); 0\n");
      await c.until("Uncaught (in promise) Error: mine", 10_000);
      await sync(c);
      app.child.kill("SIGUSR2");
      assert.ok(await stdoutHas(app, "APP REJECTION app boom"), app.stdout());
      await sleep(300);
      // Without a manhole, the listener handles it and the app lives on: the same here.
      assert.equal(app.child.exitCode, null, `the app died: ${app.stderr()}`);
      assert.doesNotMatch(app.stderr(), /app boom/);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a manhole rejection handled later reaches no rejectionHandled listener and no warning of the app's`, async () => {
    const app = await startApp({ mode, script: THROW_APP, env: { MANHOLE_FIXTURE_ON_REJECTION: "exit" } });
    try {
      const c = await open(app);
      c.send("p = Promise.reject(new Error('handled late')); setTimeout(() => p.catch(() => {}), 100); 0\n");
      await c.until("Uncaught (in promise) Error: handled late", 10_000);
      await sleep(400);
      await sync(c);
      assert.doesNotMatch(app.stdout(), /APP (REJECTION|HANDLED)/);
      assert.doesNotMatch(app.stderr(), /PromiseRejectionHandledWarning/);
      assert.equal(app.child.exitCode, null, app.stderr());
      c.end();
    } finally {
      await app.stop();
    }
  });

  // [NODE_OPTIONS, the command line's flags]: every spelling Node takes, and the command line
  // winning over NODE_OPTIONS as it does for Node.
  const FLAGS = [
    ["--unhandled-rejections=strict", []],
    ["--unhandled-rejections=warn-with-error-code", []],
    ["--unhandled-rejections=warn", []],
    ["--unhandled-rejections strict", []],
    ["--unhandled_rejections=warn", []],
    ["--unhandled-rejections=warn", ["--unhandled-rejections=strict"]],
    ["--unhandled-rejections=strict", ["--unhandled-rejections", "warn"]],
  ];
  for (const [flag, nodeArgs] of FLAGS) {
    const given = [`NODE_OPTIONS=${flag}`, ...nodeArgs].join(" ");
    test(`${mode}: under ${given}, a manhole rejection is told to its session and leaves the app, its exit code and stderr alone`, async () => {
      const app = await startApp({ mode, script: THROW_APP, env: withFlag(flag), nodeArgs });
      try {
        const c = await open(app);
        await typeRejections(app, c);
        assert.equal(await c.eval("process.exitCode"), "undefined\n");
        await sleep(100);
        assert.doesNotMatch(app.stderr(), /typed|42|from a callback|Warning/);
        c.end();
      } finally {
        await app.stop();
      }
    });
  }

  test(`${mode}: under --unhandled-rejections=warn, the app's warning and a manhole rejection in the same drain: the app's is printed, the manhole's told`, async () => {
    const app = await startApp({ mode, script: THROW_APP, env: { MANHOLE_FIXTURE_GATE: "1", ...withFlag("--unhandled-rejections=warn") } });
    try {
      const c = await open(app);
      // Reactions to the same app promise, the app's first: both reject in one microtask drain.
      c.send("appGate.then(() => { throw new Error('mine') }); 0\n");
      await c.until(`0\n${PROMPT}`);
      app.child.kill("SIGUSR2");
      await c.until("Uncaught (in promise) Error: mine", 10_000);
      for (let i = 0; i < 100 && !app.stderr().includes("rejection id"); i++) await sleep(50);
      await sleep(200);
      const stderr = app.stderr();
      assert.match(stderr, /UnhandledPromiseRejectionWarning: Error: app first/, stderr);
      assert.equal(count(stderr, "(rejection id: "), 1, stderr);
      assert.doesNotMatch(stderr, /mine/);
      assert.equal(app.child.exitCode, null, `the app died: ${stderr}`);
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: under --unhandled-rejections=warn, an app's rejection whose warnings never come (its listener threw) leaves the manhole's unprinted`, async () => {
    const app = await startApp({
      mode,
      script: THROW_APP,
      env: { MANHOLE_FIXTURE_ON_REJECTION: "throws", MANHOLE_FIXTURE_REJECT: "1", ...withFlag("--unhandled-rejections=warn") },
    });
    try {
      const c = await open(app);
      // Manhole work pending, so that the filter is on when the app's rejection comes.
      c.send("setInterval(() => {}, 1000); 0\n");
      await c.until(`0\n${PROMPT}`);
      app.child.kill("SIGUSR2");
      assert.ok(await stdoutHas(app, "APP CAUGHT app boom"), app.stdout());
      await sleep(100);
      await typeRejections(app, c);
      await sleep(200);
      assert.doesNotMatch(app.stderr(), /typed|42|from a callback|Warning/, app.stderr());
      assert.equal(count(app.stdout(), "APP REJECTION"), 1, app.stdout());
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a manhole promise the app handles long after it was told as unhandled reaches no rejectionHandled listener`, async () => {
    const app = await startApp({ mode, script: THROW_APP, env: { MANHOLE_FIXTURE_ON_REJECTION: "exit", MANHOLE_FIXTURE_CATCH: "1" } });
    try {
      const c = await open(app);
      c.send("globalThis.late = Promise.reject(new Error('kept')); 0\n");
      await c.until("Uncaught (in promise) Error: kept", 10_000);
      await sync(c);
      // Nothing of the session's left running: the filter may be off by now.
      await sleep(1500);
      app.child.kill("SIGUSR2");
      await sleep(500);
      assert.doesNotMatch(app.stdout(), /APP (REJECTION|HANDLED)/);
      assert.doesNotMatch(app.stderr(), /PromiseRejectionHandledWarning/);
      assert.equal(app.child.exitCode, null, app.stderr());
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: work typed before the manhole closes that rejects or throws afterwards is told on stderr, the app lives`, async () => {
    const app = await startApp({ mode, script: CLOSE_APP, options: { banner: null } });
    try {
      const c = await open(app);
      c.send(
        "setTimeout(() => Promise.reject(new Error('rejected after close')), 400); " +
          "setTimeout(() => { throw new Error('thrown after close') }, 500); 0\n",
      );
      await c.until(`0\n${PROMPT}`);
      app.child.kill("SIGUSR2");
      assert.ok(await stdoutHas(app, "CLOSED"), app.stdout());
      for (let i = 0; i < 100 && !app.stderr().includes("thrown after close"); i++) await sleep(50);
      await sleep(200);
      assert.equal(app.child.exitCode, null, `the app died: ${app.stderr()}`);
      assert.match(app.stderr(), /Uncaught \(in promise\) Error: rejected after close/);
      assert.match(app.stderr(), /Uncaught Error: thrown after close/);
    } finally {
      await app.stop();
    }
  });
}
