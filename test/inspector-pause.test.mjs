// Threaded mode: `.stack` stops the main thread through the inspector (at a breakpoint, for the locals) while other sessions'
// inputs wait for the blocked loop (each one probes where the main thread is, through the same
// inspector). It must never leave the main thread paused: its loop comes back as soon as
// the code that blocked it returns.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, httpGetWithin, PROMPT, startApp } from "./helpers.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const BLOCK_MS = 8000;

/** Three sessions sending `.stack` one after the other until `until`; resolves to how many were answered. */
async function stackUntil(app, until, label = "") {
  let stacks = 0;
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      const stacker = await connect(app.path);
      await stacker.until(PROMPT);
      while (Date.now() < until) {
        stacker.send(".stack\n");
        await stacker
          .until(PROMPT, 15_000)
          .catch((err) =>
            assert.fail(`${label}.stack got no answer: ${err.message.slice(0, 2000)}; app stderr: ${app.stderr().slice(-3000)}`),
          );
        stacks++;
      }
      stacker.end();
    }),
  );
  return stacks;
}

test("a .stack pause among waiting inputs' probes lets the main thread go when the block ends", { timeout: 60_000 }, async () => {
  const app = await startApp({ options: { timeout: 60_000, banner: null, maxConnections: 1000 } });
  try {
    const blocker = await connect(app.path);
    await blocker.until(PROMPT);
    // An app function (no interrupt checks) under a deep stack: each probe of where the main
    // thread is takes a while to format it, so inspector messages arrive while one runs.
    blocker.send(`const deep = (n) => (n > 0 ? 1 + deep(n - 1) : blockEventLoop(${BLOCK_MS})); deep(300)\n`);
    await sleep(400);
    const until = Date.now() + BLOCK_MS - 800;
    // Inputs that wait for the blocked loop, coming and going: each makes the worker ask the
    // main thread where it is.
    const churn = Array.from({ length: 10 }, async () => {
      while (Date.now() < until) {
        const c = await connect(app.path).catch(() => undefined);
        if (!c) {
          await sleep(10); // the accept backlog is full for a moment
          continue;
        }
        c.send("1+1\n");
        await sleep(Math.random() * 30);
        c.destroy();
      }
    });
    // Meanwhile `.stack`, again and again: each one pauses the main thread to read its frames.
    const stackers = stackUntil(app, until);
    const [stacks] = await Promise.all([stackers, ...churn]);
    assert.ok(stacks > 0);
    // The block ends BLOCK_MS after it began: the loop must turn again soon after.
    const out = await blocker.until(PROMPT, 10_000).catch(() => "no answer: the main thread stayed paused");
    assert.match(out, /^\d+\n/);
    assert.match(await httpGetWithin(app.port, 5000), /ok/);
    const fresh = await connect(app.path);
    await fresh.until(PROMPT, 5000);
    assert.equal(await fresh.eval("6 * 7"), "42\n");
    fresh.end();
    blocker.end();
  } finally {
    await app.stop();
  }
});

// Node 20's V8 aborted the process (a CHECK in its deoptimizer) when `.stack`'s breakpoints met a
// loop that ran in on-stack-replacement code: 11 runs in 15 of such .stack before the fix.
test("`.stack` again and again on a busy-waiting main thread never aborts the process", { timeout: 90_000 }, async () => {
  for (let run = 0; run < 3; run++) {
    const app = await startApp({ options: { timeout: 60_000, banner: null } });
    try {
      const blocker = await connect(app.path);
      await blocker.until(PROMPT);
      blocker.send("blockEventLoop(5000)\n");
      await sleep(300);
      const until = Date.now() + 4000;
      const stacks = await stackUntil(app, until, `run ${run}: `);
      assert.ok(stacks > 0);
      assert.match(await blocker.until(PROMPT, 10_000), /^\d+\n/); // it ran to its end
      assert.equal(app.child.exitCode, null, app.stderr());
      assert.doesNotMatch(app.stderr(), /Fatal error|Check failed/);
      blocker.end();
    } finally {
      await app.stop();
    }
  }
});
