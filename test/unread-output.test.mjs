// A client that stops reading while output keeps coming must not grow the app's memory without
// bound. One evaluation prints at most maxOutputBytes (1 MiB by default), but a client can send
// input after input without reading: past MAX_UNREAD_BYTES the session is closed with a note,
// and the app and its other sessions carry on.
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { MODES, nc, requireTool, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");
const MiB = 2 ** 20;

for (const mode of MODES) {
  test(`${mode}: a client that stops reading is closed after 16 MiB of unread output; the app goes on`, async () => {
    const app = await startApp({ mode });
    try {
      const socket = net.createConnection(app.path);
      await new Promise((resolve) => socket.once("connect", resolve));
      // 40 inputs of 900 kB of output each, none of it read.
      socket.pause();
      socket.write('console.log("x".repeat(900_000))\n'.repeat(40));
      // Let the output pile up unread, then read what the app kept for us.
      await new Promise((r) => setTimeout(r, 3000));
      let bytes = 0;
      let tail = "";
      socket.on("data", (d) => {
        bytes += d.length;
        tail = (tail + d.toString("latin1")).slice(-300);
      });
      const ended = new Promise((resolve) => socket.once("close", resolve));
      socket.resume();
      await ended;
      // The app closed the connection and let go of what was unread: a client that reads again
      // within 2 s gets the output up to the limit and the note; this one came back too late.
      assert.ok(bytes < 17 * MiB, `read ${bytes} bytes`);
      assert.doesNotMatch(tail, /^>>> $/m, "not a session that goes on");

      const { stdout } = await nc(app.path, "appState.items.length\n");
      assert.match(stdout, /^>>> 2$/m);
      const { stdout: rss } = await nc(app.path, "Math.round(process.memoryUsage().rss / 2 ** 20)\n");
      assert.ok(Number(/^>>> (\d+)$/m.exec(rss)[1]) < 400, rss);
    } finally {
      await app.stop();
    }
  });
}

test("a client that reads again soon gets the output up to the limit, then the note", async () => {
  const dir = tempDir();
  const audit = path.join(dir, "audit.log");
  const app = await startApp({ mode: "threaded", options: { audit } });
  try {
    const socket = net.createConnection(app.path);
    await new Promise((resolve) => socket.once("connect", resolve));
    socket.pause();
    socket.write('console.log("x".repeat(900_000))\n'.repeat(40));
    // Read only once the app has given up on it: the audit log records the session's close.
    for (let i = 0; i < 3000 && !/"session-close"/.test(fs.existsSync(audit) ? fs.readFileSync(audit, "utf8") : ""); i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    let text = "";
    socket.setEncoding("latin1").on("data", (d) => {
      text += d;
    });
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.resume();
    await closed;
    assert.match(text.slice(-200), /\nmanhole: closing this session: the client has not read 16 MiB of output\n$/);
    assert.ok(text.length > 16 * MiB && text.length < 17 * MiB, `read ${text.length} bytes`);
  } finally {
    await app.stop();
  }
});
