// `manhole top`: the dashboard in a real terminal (tmux), and one sample as JSON.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, PROMPT, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("tmux");

const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const FIXTURE = path.join(ROOT, "test", "fixtures", "diagnostics.cjs");
const TMUX_SOCKET = path.join(tempDir(), "tmux.sock");
const tmux = (...args) => execFileSync("tmux", ["-S", TMUX_SOCKET, ...args], { encoding: "utf8" });
const quote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe("manhole top", () => {
  let app;
  before(async () => {
    app = await startApp({ script: FIXTURE, options: { timeout: 60_000 } });
    tmux("new-session", "-d", "-s", "keeper", "sleep 3600");
  });
  after(async () => {
    try {
      tmux("kill-server");
    } catch {
      // already gone
    }
    await app?.stop();
  });

  test("draws its panels every second, shows a blocked loop in red, quits on q and restores the screen", async () => {
    const name = "top-1";
    const command = [
      `echo BEFORE-TOP;`,
      "env",
      `MANHOLE_DIR=${quote(app.dir)}`,
      quote(process.execPath),
      quote(MAIN),
      "top",
      String(app.child.pid),
      '; echo "EXITED $?"; sleep 600',
    ].join(" ");
    tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command);
    const screen = (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", name);
    const waitFor = async (pattern, ms = 15_000) => {
      const deadline = Date.now() + ms;
      for (;;) {
        const s = screen();
        if (pattern.test(s)) return s;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern}; the screen:\n${s}`);
        await sleep(100);
      }
    };
    try {
      const first = await waitFor(/^handles +\d+/m);
      assert.match(first, new RegExp(`^manhole top  pid ${app.child.pid} `, "m"));
      for (const panel of [
        /^loop util +\d+%/m,
        /^loop delay +p99 /m,
        /^heap used +\d/m,
        /^rss +\d/m,
        /^requests +\d+ in flight/m,
        /^ {2}TCPServerWrap +1$/m,
      ])
        assert.match(first, panel);
      assert.doesNotMatch(first, /BEFORE-TOP/, "on the alternate screen");
      // A second frame later the sparklines have two samples.
      await waitFor(/^loop util +\S+ +[▁▂▃▄▅▆▇█]{2,}/m);

      const c = await connect(app.path);
      await c.until(PROMPT);
      c.send("blockEventLoop(3500)\n");
      await waitFor(/^EVENT LOOP BLOCKED for \d/m);
      assert.match(screen(true), /\x1b\[31m.*EVENT LOOP BLOCKED/);
      await c.until(PROMPT, 10_000);
      c.end();
      await waitFor(/^loop util +\d+%/m);

      tmux("send-keys", "-t", name, "q");
      const end = await waitFor(/^EXITED 0$/m);
      assert.match(end, /^BEFORE-TOP$/m, "the screen from before is back");
      assert.doesNotMatch(end, /loop util/);
      assert.match(screen(true), /EXITED 0/);
      const cursor = tmux("display-message", "-p", "-t", name, "#{cursor_flag}");
      assert.equal(cursor.trim(), "1", "the cursor is shown again");
    } finally {
      try {
        tmux("kill-session", "-t", name);
      } catch {
        // gone
      }
    }
  });

  test("--once --json prints one sample", async () => {
    const r = await runClient(process.execPath, [MAIN, "top", String(app.child.pid), "--once", "--json"], "", {
      env: { MANHOLE_DIR: app.dir },
    });
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.pid, app.child.pid);
    assert.equal(typeof s.loop.utilization, "number");
    assert.equal(s.loop.blocked, false);
    assert.ok(s.mem.heapUsed > 0 && s.mem.rss > s.mem.heapUsed);
    assert.equal(s.handles.TCPServerWrap, 1);
    assert.equal(s.requests, 0);
    const bad = await runClient(process.execPath, [MAIN, "top", String(app.child.pid), "--json"], "", { env: { MANHOLE_DIR: app.dir } });
    assert.equal(bad.code, 2);
  });
});
