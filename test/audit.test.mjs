// The audit option (a file or a function) and observe-only mode, against the real fixture apps.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { connect, MODES, openSession, PROMPT, ROOT, startApp, tempDir } from "./helpers.mjs";

const AUDIT_FN = path.join(ROOT, "test", "fixtures", "audit-fn.cjs");
const REFUSED = "Refused: this manhole is observe-only (evaluation is disabled)";

/** Polls `probe` until it returns something truthy (or fails after 10 s). */
async function waitFor(probe, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function fileEvents(file) {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function stdoutEvents(app) {
  return app
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("AUDIT "))
    .map((l) => JSON.parse(l.slice(6)));
}

/** Waits until session `session` is recorded as closed; returns that session's events. */
async function sessionEvents(read, session) {
  const all = await waitFor(() => {
    const events = read();
    return events.some((e) => e.event === "session-close" && e.session === session) && events;
  }, `session ${session} to close in the audit log`);
  return all.filter((e) => e.session === session);
}

function checkCommon(e, session) {
  assert.equal(e.session, session);
  assert.equal(typeof e.time, "string");
  assert.ok(!Number.isNaN(Date.parse(e.time)), `time parses: ${e.time}`);
  assert.equal(new Date(e.time).toISOString(), e.time);
  assert.equal(typeof e.peer, "object");
  // On Linux the peer's credentials are known (the test clients run as this process's user).
  if (process.platform === "linux" && e.peer.uid !== undefined) {
    assert.equal(e.peer.uid, process.geteuid());
    assert.equal(typeof e.peer.pid, "number");
  }
}

/** Runs 1+1, .stack, a throw and .exit in one human session; returns its id (from the log). */
async function typicalSession(app) {
  const c = await openSession(app);
  assert.equal(await c.eval("1+1"), "2\n");
  await c.eval(".stack");
  assert.match(await c.eval("throw new Error('boom')"), /Uncaught Error: boom/);
  c.send(".exit\n");
  await c.closed();
}

function checkTypical(events, session) {
  assert.deepEqual(
    events.map((e) => [e.event, e.input, e.outcome]),
    [
      ["session-open", undefined, undefined],
      ["eval", "1+1", "ok"],
      ["command", ".stack", "ok"],
      ["eval", "throw new Error('boom')", "error"],
      ["command", ".exit", "ok"],
      ["session-close", undefined, undefined],
    ],
  );
  for (const e of events) {
    checkCommon(e, session);
    assert.equal(e.truncated, undefined);
    if (e.event === "session-open") assert.deepEqual(Object.keys(e), ["time", "event", "session", "peer"]);
    else assert.equal(typeof e.durationMs, "number");
    if (e.event === "eval" || e.event === "command") {
      assert.deepEqual(Object.keys(e), ["time", "event", "session", "peer", "input", "outcome", "durationMs"]);
    }
  }
}

/** A structured client past its hello. */
async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  return {
    c,
    send: (obj) => c.send(`${JSON.stringify(obj)}\n`),
    next: async () => JSON.parse(await c.until("\n")),
  };
}

for (const mode of MODES) {
  test(`${mode}: a file audit log gets a JSON line per open, eval, command and close (0600, appended)`, async () => {
    const dir = tempDir();
    const file = path.join(dir, "audit.jsonl");
    fs.writeFileSync(file, '{"earlier":"line"}\n');
    fs.chmodSync(file, 0o600);
    const app = await startApp({ mode, options: { audit: file, banner: null } });
    try {
      await typicalSession(app);
      const events = await sessionEvents(() => fileEvents(file).slice(1), 1);
      checkTypical(events, 1);
      assert.deepEqual(fileEvents(file)[0], { earlier: "line" }, "earlier lines are kept");
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: an evaluation that ends the process is audited with outcome "exit"`, async () => {
    const file = path.join(tempDir(), "exit-audit.jsonl");
    const app = await startApp({ mode, options: { audit: file, banner: null } });
    const c = await openSession(app);
    c.send("process.exit(0)\n");
    assert.deepEqual(await app.exit, { code: 0, signal: null });
    const last = fileEvents(file).at(-1);
    assert.equal(last.event, "eval");
    assert.equal(last.input, "process.exit(0)");
    assert.equal(last.outcome, "exit");
    assert.equal(typeof last.durationMs, "number");
    checkCommon(last, last.session);
  });

  test(`${mode}: a new audit file is created 0600`, async () => {
    const file = path.join(tempDir(), "new-audit.jsonl");
    const app = await startApp({ mode, options: { audit: file, banner: null } });
    try {
      const c = await openSession(app);
      c.end();
      await sessionEvents(() => fileEvents(file), 1);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: close() writes the audit lines of the sessions it ends before it resolves`, async () => {
    const file = path.join(tempDir(), "audit.jsonl");
    const script = path.join(ROOT, "test", "fixtures", "close-on-signal.cjs");
    const app = await startApp({ mode, script, options: { audit: file, banner: null } });
    try {
      const c = await openSession(app);
      assert.equal(await c.eval("1+1"), "2\n");
      app.child.kill("SIGUSR2");
      await waitFor(() => app.stdout().includes("CLOSED\n"), "CLOSED");
      assert.deepEqual(
        fileEvents(file).map((e) => [e.event, e.session]),
        [
          ["session-open", 1],
          ["eval", 1],
          ["session-close", 1],
        ],
      );
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: evaluations still running at close() are audited with outcome "closed", before their session's close`, async () => {
    const file = path.join(tempDir(), "audit.jsonl");
    const script = path.join(ROOT, "test", "fixtures", "close-on-signal.cjs");
    const app = await startApp({ mode, script, options: { audit: file, banner: null, timeout: 60_000, maxLineBytes: 200 } });
    try {
      const forever = "console.log('started'); await new Promise(() => {})";
      const c = await openSession(app);
      c.send(`${forever}\n`);
      await c.until("started\n");
      const s = await structured(app);
      s.send({ op: "eval", id: 2, code: forever });
      assert.deepEqual(await s.next(), { op: "out", id: 2, text: "started\n" });
      // A session ended (here by a line over maxLineBytes) while its evaluation runs: the
      // evaluation is still under way at close().
      const gone = await openSession(app);
      gone.send(`${forever}\n`);
      await gone.until("started\n");
      gone.send(`${"x".repeat(300)}\n`);
      await gone.closed();
      await waitFor(() => fileEvents(file).some((e) => e.event === "session-close" && e.session === 3), "session 3 to close");
      app.child.kill("SIGUSR2");
      await waitFor(() => app.stdout().includes("CLOSED\n"), "CLOSED");
      assert.equal(await c.until("manhole: closing, goodbye\n"), "\nmanhole: closing, goodbye\n");
      const events = fileEvents(file);
      assert.deepEqual(
        events.map((e) => [e.event, e.session, e.input, e.outcome]),
        [
          ["session-open", 1, undefined, undefined],
          ["session-open", 2, undefined, undefined],
          ["session-open", 3, undefined, undefined],
          ["session-close", 3, undefined, undefined],
          ["eval", 1, forever, "closed"],
          ["eval", 2, forever, "closed"],
          ["eval", 3, forever, "closed"],
          ["session-close", 1, undefined, undefined],
          ["session-close", 2, undefined, undefined],
        ],
      );
      for (const e of events) {
        checkCommon(e, e.session);
        if (e.event === "eval") {
          assert.deepEqual(Object.keys(e), ["time", "event", "session", "peer", "input", "outcome", "durationMs"]);
          assert.ok(e.durationMs >= 0, `durationMs: ${e.durationMs}`);
        }
      }
      assert.equal(app.child.exitCode, null, "the app carries on");
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: evaluations still queued at close() never run`, async () => {
    const file = path.join(tempDir(), "audit.jsonl");
    const script = path.join(ROOT, "test", "fixtures", "close-on-signal.cjs");
    const app = await startApp({ mode, script, options: { audit: file, banner: null, timeout: 60_000 } });
    try {
      const s = await structured(app);
      s.send({ op: "eval", id: 2, code: "console.log('first'); await new Promise((r) => setTimeout(r, 800))" });
      s.send({ op: "eval", id: 3, code: "require('node:fs').writeSync(1, 'QUEUED-RAN\\n')" });
      assert.deepEqual(await s.next(), { op: "out", id: 2, text: "first\n" });
      app.child.kill("SIGUSR2");
      await waitFor(() => app.stdout().includes("CLOSED\n"), "CLOSED");
      // Past the end of the first evaluation: the one queued behind it would have started by now.
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(app.stdout().includes("QUEUED-RAN"), false);
      assert.deepEqual(
        fileEvents(file).map((e) => [e.event, e.session, e.outcome]),
        [
          ["session-open", 1, undefined],
          ["eval", 1, "closed"],
          ["session-close", 1, undefined],
        ],
      );
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: long inputs are cut at 4096 characters and flagged; interrupted evaluations say so`, async () => {
    const file = path.join(tempDir(), "audit.jsonl");
    const app = await startApp({ mode, options: { audit: file, banner: null, timeout: 300 } });
    try {
      const c = await openSession(app);
      const long = `'${"x".repeat(5000)}'.length`;
      assert.equal(await c.eval(long), "5000\n");
      assert.match(await c.eval("for (;;) {}"), /Interrupted/);
      c.end();
      const [, cut, stopped] = await sessionEvents(() => fileEvents(file), 1);
      assert.equal(cut.event, "eval");
      assert.equal(cut.input, long.slice(0, 4096));
      assert.equal(cut.truncated, true);
      assert.equal(cut.outcome, "ok");
      assert.equal(stopped.input, "for (;;) {}");
      assert.equal(stopped.outcome, "interrupted");
      assert.equal(stopped.truncated, undefined);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: an audit function gets every event on the main thread, structured sessions included`, async () => {
    const app = await startApp({ mode, script: AUDIT_FN, options: { banner: null } });
    try {
      await typicalSession(app);
      checkTypical(await sessionEvents(() => stdoutEvents(app), 1), 1);
      const s = await structured(app);
      s.send({ op: "eval", id: 2, code: "6*7" });
      assert.equal((await s.next()).json, 42);
      s.send({ op: "command", id: 3, name: "help" });
      assert.equal((await s.next()).op, "result");
      s.send({ op: "command", id: 4, name: "nosuch" });
      assert.equal((await s.next()).error.name, "UnknownOperation");
      s.c.end();
      const events = await sessionEvents(() => stdoutEvents(app), 2);
      assert.deepEqual(
        events.map((e) => [e.event, e.input, e.outcome]),
        [
          ["session-open", undefined, undefined],
          ["eval", "6*7", "ok"],
          ["command", ".help", "ok"],
          ["command", ".nosuch", "error"],
          ["session-close", undefined, undefined],
        ],
      );
      for (const e of events) checkCommon(e, 2);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a throwing audit function breaks nothing and is reported once`, async () => {
    const app = await startApp({ mode, script: AUDIT_FN, options: { banner: null }, env: { MANHOLE_TEST_AUDIT_THROW: "1" } });
    try {
      for (let i = 0; i < 2; i++) {
        const c = await openSession(app);
        assert.equal(await c.eval("1+1"), "2\n");
        assert.equal(await c.eval("'still here'"), "'still here'\n");
        c.end();
        await c.closed();
      }
      await sessionEvents(() => stdoutEvents(app), 2);
      assert.equal(app.stderr().match(/the audit function threw \(audit function exploded\)/g)?.length, 1, app.stderr());
      assert.equal(app.child.exitCode, null, "the app is alive");
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: an audit path that cannot be written is reported once on stderr; sessions carry on`, async () => {
    const dir = tempDir();
    const app = await startApp({ mode, options: { audit: dir, banner: null } });
    try {
      for (let i = 0; i < 2; i++) {
        const c = await openSession(app);
        assert.equal(await c.eval("1+1"), "2\n");
        assert.equal(await c.eval(".help").then((t) => t.includes(".stack")), true);
        c.end();
        await c.closed();
      }
      await waitFor(() => app.stderr().includes("cannot write the audit log"), "the audit error on stderr");
      const c = await openSession(app);
      assert.equal(await c.eval("'after'"), "'after'\n");
      c.end();
      await c.closed();
      const reports = app.stderr().match(/manhole: cannot write the audit log [^\n]*/g);
      assert.equal(reports.length, 1, app.stderr());
      assert.ok(reports[0].includes(dir), reports[0]);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: observe-only refuses evaluation, keeps .stack, says so in the banner, audits "refused"`, async () => {
    const file = path.join(tempDir(), "audit.jsonl");
    const app = await startApp({ mode, options: { observeOnly: true, audit: file } });
    try {
      const c = await connect(app.path);
      const banner = await c.until(PROMPT);
      assert.match(banner, /\nThis manhole is observe-only: evaluation is disabled[^\n]*\n>>> $/);
      assert.equal(await c.eval("appState.ticks = -1"), `${REFUSED}\n`);
      const stack = await c.eval(".stack");
      if (mode === "threaded") assert.match(stack, /^Main thread: /);
      else assert.match(stack, /only available in threaded mode/);
      assert.match(await c.eval(".help"), /\.stack/);
      c.send(".exit\n");
      await c.closed();
      const events = await sessionEvents(() => fileEvents(file), 1);
      assert.deepEqual(
        events.map((e) => [e.event, e.input, e.outcome]),
        [
          ["session-open", undefined, undefined],
          ["eval", "appState.ticks = -1", "refused"],
          ["command", ".stack", "ok"],
          ["command", ".help", "ok"],
          ["command", ".exit", "ok"],
          ["session-close", undefined, undefined],
        ],
      );

      const s = await structured(app);
      s.send({ op: "eval", id: 2, code: "1+1" });
      assert.deepEqual(await s.next(), {
        op: "error",
        id: 2,
        text: "ObserveOnly: this manhole is observe-only (evaluation is disabled)",
        error: { name: "ObserveOnly", message: "this manhole is observe-only (evaluation is disabled)" },
      });
      s.send({ op: "complete", id: 3, text: "appSt" });
      const refusedCompletion = await s.next();
      assert.equal(refusedCompletion.id, 3);
      assert.equal(refusedCompletion.error.name, "ObserveOnly");
      s.send({ op: "command", id: 4, name: "stack" });
      const result = await s.next();
      assert.equal(result.op, "result");
      assert.equal(result.id, 4);
      s.c.end();
      const structuredEvents = await sessionEvents(() => fileEvents(file), 2);
      assert.deepEqual(
        structuredEvents.map((e) => [e.event, e.input, e.outcome]),
        [
          ["session-open", undefined, undefined],
          ["eval", "1+1", "refused"],
          ["command", ".stack", "ok"],
          ["session-close", undefined, undefined],
        ],
      );
    } finally {
      await app.stop();
    }
  });
}

test("bad audit options are refused at startManhole", async () => {
  const { startManhole } = await import("../dist/agent/index.mjs");
  await assert.rejects(startManhole({ audit: "" }), /option "audit" must be a file path/);
  await assert.rejects(startManhole({ audit: 42 }), /option "audit" must be a file path/);
});
