// Hostile or odd input on the human-mode socket: over-long lines, invalid UTF-8, telnet
// negotiation, CRLF, NUL bytes, half-close, vanishing clients, too many connections, and
// connection churn. None of it may wedge a session, grow the app's memory, or leak.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, evalNumber, httpGet, MODES, nc, openSession as open, PROMPT, requireTool, startApp, sync } from "./helpers.mjs";

requireTool("nc");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const tooLong = (n) => `\nmanhole: input line longer than maxLineBytes (${n} bytes); closing the connection\n`;

for (const mode of MODES) {
  test(`${mode}: a line over maxLineBytes (1024) gets one error line and the connection closes`, async () => {
    const app = await startApp({ mode, options: { banner: null, maxLineBytes: 1024 } });
    try {
      const other = await open(app);

      // Exactly maxLineBytes is still accepted.
      const c0 = await open(app);
      const exact = `${" ".repeat(1024 - 3)}1+1`;
      assert.equal(Buffer.byteLength(exact), 1024);
      assert.equal(await c0.eval(exact), "2\n");
      c0.end();

      // Without a newline.
      const c1 = await open(app);
      c1.send("a".repeat(2000));
      await c1.closed();
      assert.equal(c1.rest(), tooLong(1024));

      // With a newline, in several chunks.
      const c2 = await open(app);
      c2.send("b".repeat(600));
      c2.send("b".repeat(600));
      c2.send("\n1+1\n");
      await c2.closed();
      assert.equal(c2.rest(), tooLong(1024));

      // Everyone else carries on.
      assert.equal(await other.eval("1+1"), "2\n");
      const c3 = await open(app);
      assert.equal(await c3.eval("1+1"), "2\n");
      c3.end();
      other.end();
      assert.match(await httpGet(app.port), /^HTTP\/1\.[01] 200/);
      assert.equal(app.child.exitCode, null);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the default maxLineBytes (1 MiB) refuses ~2 MiB without a newline`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      c.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
      await c.closed();
      assert.equal(c.rest(), tooLong(1024 * 1024));
      const d = await open(app);
      assert.equal(await d.eval("1+1"), "2\n");
      d.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: 50 MiB without a newline does not grow the app's memory`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const watcher = await open(app);
      // Warm up the paths involved once, so that first-use allocations do not count as growth.
      const warm = await open(app);
      warm.send(Buffer.alloc(2 * 1024 * 1024, 0x61));
      await warm.closed();
      await sleep(200);
      const before = await evalNumber(watcher, "process.memoryUsage().rss");

      const input = 50 * 1024 * 1024;
      const c = await open(app);
      const chunk = Buffer.alloc(1024 * 1024, 0x62);
      for (let i = 0; i < 50 && !c.socket.destroyed; i++) c.socket.write(chunk);
      await c.closed();
      assert.equal(c.rest(), tooLong(1024 * 1024));
      await sleep(200);
      const after = await evalNumber(watcher, "process.memoryUsage().rss");
      const growth = after - before;
      assert.ok(growth < input / 4, `RSS grew by ${growth} bytes for ${input} bytes of input`);

      // The app and the other session carry on.
      assert.equal(await watcher.eval("1+1"), "2\n");
      assert.match(await httpGet(app.port), /^HTTP\/1\.[01] 200/);
      watcher.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: invalid UTF-8 gets an error and the session goes on`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      const utf8Error = `Error: input is not valid UTF-8; line ignored\n${PROMPT}`;
      // A truncated 2-byte sequence, stray 0xFE, a lone continuation byte, an overlong encoding.
      for (const bytes of [[0x27, 0xc3, 0x28, 0x27], [0x31, 0xfe], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80]]) {
        c.send(Buffer.from([...bytes, 0x0a]));
        assert.equal(await sync(c), utf8Error, `bytes ${bytes}`);
        assert.equal(await c.eval("1+1"), "2\n");
      }
      // Valid multi-byte UTF-8, split across writes, is fine.
      const euro = Buffer.from("'€'.length\n");
      c.send(euro.subarray(0, 2));
      await sleep(20);
      c.send(euro.subarray(2));
      assert.equal(await sync(c), `1\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: telnet IAC negotiation is dropped and IAC IP interrupts`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      const IAC = 0xff;
      // IAC DO ECHO alone: nothing to answer.
      c.send(Buffer.from([IAC, 0xfd, 0x01]));
      assert.equal(await sync(c), "");
      // IAC WILL SGA in the middle of a line.
      c.send(Buffer.concat([Buffer.from("1+"), Buffer.from([IAC, 0xfb, 0x03]), Buffer.from("1\n")]));
      assert.equal(await sync(c), `2\n${PROMPT}`);
      // IAC DO split across two writes.
      c.send(Buffer.from([IAC]));
      await sleep(20);
      c.send(Buffer.concat([Buffer.from([0xfd, 0x18]), Buffer.from("2+2\n")]));
      assert.equal(await sync(c), `4\n${PROMPT}`);
      // A subnegotiation (IAC SB ... IAC SE) is skipped whole.
      c.send(Buffer.concat([Buffer.from([IAC, 0xfa, 0x18, 0x00, 0x41, 0x42, IAC, 0xf0]), Buffer.from("3+3\n")]));
      assert.equal(await sync(c), `6\n${PROMPT}`);
      // IAC IAC is a literal 0xFF byte, which is not UTF-8.
      c.send(Buffer.from([0x27, IAC, IAC, 0x27, 0x0a]));
      assert.equal(await sync(c), `Error: input is not valid UTF-8; line ignored\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");

      // IAC IP (a telnet client's Ctrl-C) while idle: a fresh prompt.
      c.send(Buffer.from([IAC, 0xf4]));
      assert.equal(await c.until(PROMPT), `\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");
      // IAC IP in the middle of a line discards the partial input.
      c.send(Buffer.concat([Buffer.from("9+"), Buffer.from([IAC, 0xf4])]));
      assert.equal(await c.until(PROMPT), `\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");
      // IAC IP during an evaluation interrupts it.
      c.send("await new Promise((r) => setTimeout(r, 3000))\n");
      await sleep(300);
      c.send(Buffer.from([IAC, 0xf4]));
      assert.equal(await c.until(PROMPT), `Interrupted while awaiting: the prompt is back; the promise keeps running\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: CRLF line ends are accepted`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      c.send("2+3\r\n");
      assert.equal(await sync(c), `5\n${PROMPT}`);
      c.send("x = 'a\\r'\r\nx.length\r\n");
      assert.equal(await sync(c), `'a\\r'\n${PROMPT}2\n${PROMPT}`);
      // An incomplete input continued over CRLF lines.
      c.send("[1,\r\n2]\r\n");
      assert.equal(await sync(c), `... [ 1, 2 ]\n${PROMPT}`);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: NUL bytes get an error and the session goes on`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await open(app);
      const nulError = `Error: input contains a NUL byte; line ignored\n${PROMPT}`;
      c.send("1\x00+1\n");
      assert.equal(await sync(c), nulError);
      c.send("\x00\n");
      assert.equal(await sync(c), nulError);
      c.send("\x00\x00\x00\r\n");
      assert.equal(await sync(c), nulError);
      assert.equal(await c.eval("1+1"), "2\n");
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: EOF without a final newline still evaluates the last input`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const r = await nc(app.path, "40+2");
      assert.equal(r.stdout, `${PROMPT}42\n${PROMPT}`);
      assert.equal(r.code, 0);
      const r2 = await nc(app.path, "1+1\n40+2");
      assert.equal(r2.stdout, `${PROMPT}2\n${PROMPT}42\n${PROMPT}`);
      assert.equal(r2.code, 0);
      // An awaited last input is delivered too before the server closes.
      const r3 = await nc(app.path, "await new Promise((r) => setTimeout(() => r(7), 200))");
      assert.equal(r3.stdout, `${PROMPT}7\n${PROMPT}`);
      assert.equal(r3.code, 0);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a client that disconnects mid-evaluation crashes nothing`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      for (let i = 0; i < 3; i++) {
        const c = await open(app);
        c.send("await new Promise(r => setTimeout(r, 500))\n");
        await sleep(100);
        c.destroy();
      }
      // A synchronous evaluation whose client is gone when it ends.
      const s = await open(app);
      s.send("blockEventLoop(300)\n");
      await sleep(50);
      s.destroy();
      await sleep(900);
      assert.equal(app.child.exitCode, null);
      const d = await open(app);
      assert.equal(await d.eval("1+1"), "2\n");
      assert.match(await httpGet(app.port), /^HTTP\/1\.[01] 200/);
      d.end();
      assert.equal(app.child.exitCode, null);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a connection over maxConnections (2) is refused with one line`, async () => {
    const app = await startApp({ mode, options: { banner: null, maxConnections: 2 } });
    try {
      const a = await open(app);
      const b = await open(app);
      const refused = await connect(app.path);
      await refused.closed();
      assert.match(
        refused.rest(),
        /^manhole: too many connections: 2 sessions open \(maxConnections is 2\), the oldest since \d{4}-\d\d-\d\dT[\d:.]+Z \([\d.a-z]+ ago\), the newest since \d{4}-\d\d-\d\dT[\d:.]+Z \([\d.a-z]+ ago\); idle sessions close after 30m00s; try again later\n$/,
      );
      assert.equal(await a.eval("1+1"), "2\n");
      assert.equal(await b.eval("2+2"), "4\n");
      // Once one leaves, a new one is welcome.
      a.end();
      await a.closed();
      let c;
      for (let i = 0; i < 50; i++) {
        const x = await connect(app.path);
        const first = await x.until(/>>> |\n/);
        if (first === PROMPT) {
          c = x;
          break;
        }
        await x.closed();
        await sleep(50);
      }
      assert.ok(c, "a new session is accepted after one closed");
      assert.equal(await c.eval("3+3"), "6\n");
      assert.equal(await b.eval("1+1"), "2\n");
      c.end();
      b.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: 200 connect/evaluate/disconnect cycles leak no sessions, handles or fds`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const cycle = async () => {
        const c = await open(app);
        assert.equal(await c.eval("1+1"), "2\n");
        c.end();
        await c.closed();
      };
      const m = await open(app);
      const resources = () => evalNumber(m, "process.getActiveResourcesInfo().length");
      const fds = () => evalNumber(m, "require('fs').readdirSync('/proc/self/fd').length");
      for (let i = 0; i < 5; i++) await cycle();
      await sleep(200);
      const res0 = await resources();
      const fd0 = await fds();
      for (let i = 0; i < 200; i++) await cycle();
      // The server side may need a moment to notice the last close.
      let res1;
      let fd1;
      for (let i = 0; i < 20; i++) {
        await sleep(100);
        res1 = await resources();
        fd1 = await fds();
        if (res1 <= res0 + 2 && fd1 <= fd0 + 2) break;
      }
      assert.ok(res1 <= res0 + 2, `active resources ${res0} -> ${res1}`);
      assert.ok(fd1 <= fd0 + 2, `open fds ${fd0} -> ${fd1}`);
      assert.equal(await m.eval("1+1"), "2\n");
      m.end();
    } finally {
      await app.stop();
    }
  });
}
