// Output that reaches a human-mode session between inputs (a timer's console.log, an
// `Uncaught ...` reported later) is followed by a fresh prompt, or the continuation prompt
// while an input is half-typed, so that an nc user always sees where to type. Driven through
// a real `nc -U`. The async output is released from a second session (a global flag the
// session's timer polls), so that nothing here depends on timing.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, MODES, ncInteractive, PROMPT, requireTool, startApp } from "./helpers.mjs";

requireTool("nc");

const CONT = "... ";

async function withSession(mode, fn) {
  const app = await startApp({ mode, options: { banner: null } });
  const nc = ncInteractive(app.path);
  try {
    assert.equal(await nc.until(PROMPT), PROMPT);
    await fn(nc, app);
  } finally {
    nc.kill();
    await app.stop();
  }
}

/** Sets globalThis[name] from another session: what the first session's timer waits for. */
async function release(app, name) {
  const c = await connect(app.path);
  await c.until(PROMPT);
  assert.equal(await c.eval(`globalThis.${name} = true`), "true\n");
  c.end();
}

/** A timer that runs `body` once globalThis[name] is set. */
const when = (name, body) => `{ const t = setInterval(() => { if (globalThis.${name}) { clearInterval(t); ${body} } }, 5) }`;

/** Nothing more arrives for a while (no second prompt). */
async function quiet(nc) {
  await sleep(300);
  assert.equal(nc.rest(), "");
}

for (const mode of MODES) {
  describe(mode, () => {
    test(`${mode}: a timer's console.log between inputs is followed by a fresh prompt`, async () => {
      await withSession(mode, async (nc, app) => {
        nc.send(`${when("go1", "console.log('tick')")}; 1\n`);
        assert.equal(await nc.until(PROMPT), `1\n${PROMPT}`);
        await release(app, "go1");
        assert.equal(await nc.until(PROMPT), `tick\n${PROMPT}`);
        await quiet(nc);
        nc.send("2\n");
        assert.equal(await nc.until(PROMPT), `2\n${PROMPT}`);
      });
    });

    test(`${mode}: an unawaited rejection reported after the answer is followed by a fresh prompt`, async () => {
      await withSession(mode, async (nc) => {
        nc.send("Promise.reject(new Error('unawaited')); 1\n");
        assert.equal(await nc.until(PROMPT), `1\n${PROMPT}`);
        const report = await nc.until(PROMPT);
        assert.match(report, /^Uncaught \(in promise\) Error: unawaited\n {4}at REPL\d+:1:16\n>>> $/);
        await quiet(nc);
      });
    });

    test(`${mode}: a contained throw in a timer is followed by a fresh prompt`, async () => {
      await withSession(mode, async (nc, app) => {
        nc.send(`${when("go2", "throw new Error('from a timer')")}; 'set'\n`);
        assert.equal(await nc.until(PROMPT), `'set'\n${PROMPT}`);
        await release(app, "go2");
        assert.match(await nc.until(PROMPT), /^Uncaught Error: from a timer\n(?: {4}at .*\n)*>>> $/);
        await quiet(nc);
        nc.send("'still here'\n");
        assert.equal(await nc.until(PROMPT), `'still here'\n${PROMPT}`);
      });
    });

    test(`${mode}: async output while an input is half-typed is followed by the continuation prompt`, async () => {
      await withSession(mode, async (nc, app) => {
        nc.send(`${when("go3", "console.log('meanwhile')")}; 3\n[1,\n`);
        assert.equal(await nc.until(CONT), `3\n${PROMPT}${CONT}`);
        await release(app, "go3");
        assert.equal(await nc.until(CONT), `meanwhile\n${CONT}`);
        await quiet(nc);
        // The half-typed input is still there.
        nc.send("2]\n");
        assert.equal(await nc.until(PROMPT), `[ 1, 2 ]\n${PROMPT}`);
      });
    });

    test(`${mode}: a burst of async output gets one prompt after it`, async () => {
      await withSession(mode, async (nc, app) => {
        const burst = "console.log('a'); console.log('b'); Promise.reject(new Error('r')); throw new Error('c')";
        nc.send(`${when("go4", burst)}; 4\n`);
        assert.equal(await nc.until(PROMPT), `4\n${PROMPT}`);
        await release(app, "go4");
        const out = await nc.until(/Error: r\n(?: {4}at .*\n)*>>> /);
        assert.match(out, /^a\nb\nUncaught Error: c\n(?: {4}at .*\n)*Uncaught \(in promise\) Error: r\n(?: {4}at .*\n)*>>> $/);
        assert.equal(out.split(PROMPT).length, 2, `one prompt in ${JSON.stringify(out)}`);
        await quiet(nc);
      });
    });

    test(`${mode}: a burst held up inside one callback (a 60 ms step between two logs) still gets one prompt, after it`, async () => {
      await withSession(mode, async (nc, app) => {
        // The socket side cannot tell a pause in the burst from its end by time: the main thread says when its turn is over.
        const slow = "console.log('first'); for (const until = Date.now() + 60; Date.now() < until; ); console.log('second')";
        nc.send(`${when("go6", slow)}; 6\n`);
        assert.equal(await nc.until(PROMPT), `6\n${PROMPT}`);
        await release(app, "go6");
        assert.equal(await nc.until(PROMPT), `first\nsecond\n${PROMPT}`);
        await quiet(nc);
      });
    });

    if (mode === "threaded") {
      test("threaded: output followed by a blocked loop still gets its prompt while the loop is blocked", async () => {
        await withSession(mode, async (nc, app) => {
          const blocking = "console.log('before'); for (const until = Date.now() + 2500; Date.now() < until; ); console.log('after')";
          nc.send(`${when("go7", blocking)}; 7\n`);
          assert.equal(await nc.until(PROMPT), `7\n${PROMPT}`);
          await release(app, "go7");
          assert.equal(await nc.until(PROMPT), `before\n${PROMPT}`);
          // The loop turns again: the rest of the burst, and its own prompt.
          assert.equal(await nc.until(PROMPT, 10_000), `after\n${PROMPT}`);
          await quiet(nc);
        });
      });
    }

    test(`${mode}: output of a running input gets no extra prompt; its answer brings the prompt`, async () => {
      await withSession(mode, async (nc) => {
        nc.send("console.log('x'); await new Promise((r) => setTimeout(r, 50)); console.log('y'); 5\n");
        assert.equal(await nc.until(PROMPT), `x\ny\n5\n${PROMPT}`);
        await quiet(nc);
      });
    });
  });
}
