// Sessions do not pile up: a session idle for idleTimeout (no input, nothing of it running)
// is warned (a minute before, or half-way for a short limit) and then closed, in human mode
// through a real nc and in the structured protocol; a running evaluation is not idle; the
// freed slot takes a new session under maxConnections. Short limits keep the tests quick.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, MODES, ncInteractive, PROMPT, requireTool, startApp } from "./helpers.mjs";

requireTool("nc");

const WARNING =
  /^\nmanhole: this session has been idle for [\d.]+ (ms|s); it closes in [\d.]+ (ms|s) unless it is used \(idleTimeout\)\n>>> $/;
const CLOSING = /^\nmanhole: closing this session: idle for [\d.]+ (ms|s) \(idleTimeout is 1\.5 s\)\n$/;

async function withApp(mode, options, fn) {
  const app = await startApp({ mode, options: { banner: null, ...options } });
  try {
    await fn(app);
  } finally {
    await app.stop();
  }
}

for (const mode of MODES) {
  describe(mode, () => {
    test(`${mode}: an idle nc session is warned half-way through a short idleTimeout, then closed`, async () => {
      await withApp(mode, { idleTimeout: 1500 }, async (app) => {
        const started = Date.now();
        const nc = ncInteractive(app.path);
        assert.equal(await nc.until(PROMPT), PROMPT);
        const warning = await nc.until(PROMPT, 5000);
        const warnedAt = Date.now() - started;
        assert.match(warning, WARNING);
        assert.ok(warnedAt >= 700, `warned after ${warnedAt} ms`);
        assert.match(await nc.until(/idle for .*\)\n/, 5000), CLOSING);
        assert.ok(Date.now() - started >= 1450);
        // nc reads the end of the connection; it exits when its own input ends.
        nc.end();
        assert.equal(await nc.exited, 0);
        // The app goes on and takes new sessions.
        const c = await connect(app.path);
        await c.until(PROMPT);
        assert.equal(await c.eval("1+1"), "2\n");
        c.end();
      });
    });

    test(`${mode}: input keeps a session from going idle; a warned session that is used stays open`, async () => {
      await withApp(mode, { idleTimeout: 2000 }, async (app) => {
        const c = await connect(app.path);
        await c.until(PROMPT);
        for (let i = 0; i < 8; i++) {
          await sleep(300);
          assert.equal(await c.eval(`${i}`), `${i}\n`);
        }
        // Now let it be warned, then use it: the limit starts again.
        assert.match(await c.until(PROMPT, 5000), /idle for .*it closes in/);
        assert.equal(await c.eval("'still here'"), "'still here'\n");
        await sleep(700);
        assert.equal(c.rest(), "");
        assert.equal(await c.eval("'and here'"), "'and here'\n");
        c.end();
      });
    });

    test(`${mode}: a running evaluation is not idle; idleness counts from its end`, async () => {
      await withApp(mode, { idleTimeout: 1000, timeout: 10_000 }, async (app) => {
        const c = await connect(app.path);
        await c.until(PROMPT);
        const started = Date.now();
        assert.equal(await c.eval("await new Promise((r) => setTimeout(r, 2500)); 'done'"), "'done'\n");
        assert.ok(Date.now() - started >= 2400);
        // The app's own figure, not the client's clock (the answer may reach a busy client late):
        // warned half a limit after the evaluation ended, not 2.5 s after it started.
        const warning = await c.until(PROMPT, 5000);
        const idleMs = Number(/this session has been idle for (\d+) ms;/.exec(warning)?.[1]);
        assert.ok(idleMs >= 500 && idleMs < 1000, `idle for ${idleMs} ms in ${JSON.stringify(warning)}`);
        await c.closed();
        assert.match(c.rest(), /closing this session: idle for/);
      });
    });

    test(`${mode}: a structured session is warned with an out line and closed with bye`, async () => {
      await withApp(mode, { idleTimeout: 1000 }, async (app) => {
        const c = await connect(app.path);
        await c.until(PROMPT);
        c.send(`${JSON.stringify({ op: "hello", id: 1, protocol: [1] })}\n`);
        assert.equal(JSON.parse(await c.until("\n")).op, "hello");
        const out = JSON.parse(await c.until("\n", 5000));
        assert.equal(out.op, "out");
        assert.equal(out.id, null);
        assert.match(out.text, /^manhole: this session has been idle for .* unless it is used \(idleTimeout\)\n$/);
        const bye = JSON.parse(await c.until("\n", 5000));
        assert.equal(bye.op, "bye");
        assert.equal(bye.id, null);
        assert.match(bye.reason, /^the session was idle for [\d.]+ (ms|s) \(idleTimeout is 1\.0 s\)$/);
        await c.closed();
      });
    });

    test(`${mode}: an idle session frees its slot under maxConnections; the refusal says what is open since when`, async () => {
      await withApp(mode, { idleTimeout: 1500, maxConnections: 1 }, async (app) => {
        const forgotten = await connect(app.path);
        await forgotten.until(PROMPT);
        const refused = await connect(app.path);
        await refused.closed();
        assert.match(
          refused.rest(),
          /^manhole: too many connections: 1 session open \(maxConnections is 1\), the oldest since \d{4}-\d\d-\d\dT[\d:.]+Z \([\d.a-z]+ ago\); idle sessions close after 1\.5s; try again later\n$/,
        );
        await forgotten.closed();
        const next = await connect(app.path);
        assert.equal(await next.until(PROMPT), PROMPT);
        assert.equal(await next.eval("1+1"), "2\n");
        next.end();
      });
    });

    test(`${mode}: idleTimeout 0 never closes idle sessions`, async () => {
      await withApp(mode, { idleTimeout: 0 }, async (app) => {
        const c = await connect(app.path);
        await c.until(PROMPT);
        await sleep(1500);
        assert.equal(c.rest(), "");
        assert.equal(await c.eval("1+1"), "2\n");
        c.end();
      });
    });
  });
}

test("idleTimeout must be a non-negative integer", async () => {
  for (const bad of [-1, 1.5, "10"]) {
    await assert.rejects(startApp({ options: { idleTimeout: bad } }), /option "idleTimeout" must be a non-negative integer/);
  }
});
