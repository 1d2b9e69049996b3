// The opt-in TCP listener: token required (human `token: ` prompt or the token in the hello),
// the token file, rate limiting of repeated failures, TLS, `manhole exec host:port`, and no TCP
// listener at all without the option. Real child apps, real nc / node:tls / CLI clients.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import tls from "node:tls";
import { connect, MODES, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const WRONG = "manhole: wrong token\n";
const TOO_MANY = "manhole: too many failed attempts; try later\n";

/** The app's descriptor (`<dir>/<pid>.json`) and token file (`<dir>/<pid>.token`). */
const descriptorOf = (app) => JSON.parse(fs.readFileSync(path.join(app.dir, `${app.child.pid}.json`), "utf8"));
const tokenFileOf = (app) => path.join(app.dir, `${app.child.pid}.token`);
const tokenOf = (app) => fs.readFileSync(tokenFileOf(app), "utf8").trim();
const tcpPortOf = (app) => descriptorOf(app).tcp.port;

/** `nc -N 127.0.0.1 port`: sends `input`, half-closes, returns all the server said. */
const ncTcp = (port, input) => runClient("nc", ["-N", "127.0.0.1", String(port)], input);

/** Runs the CLI; resolves to { stdout, stderr, code }. */
const cli = (args, env = {}) =>
  runClient(process.execPath, [CLI, ...args], "", { env }).then(({ stdout, stderr, code }) => ({ stdout, stderr, code }));

/** Polls until `check()` is true (the test runner's timeout bounds the wait). */
async function until(check, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

/** A step-by-step client over TCP or TLS: `until(text)` resolves with everything up to it. */
function talk(socket) {
  let buf = "";
  let closed = false;
  socket.setEncoding("utf8");
  socket.on("data", (d) => (buf += d));
  socket.on("error", () => {});
  const closedP = new Promise((r) =>
    socket.once("close", () => {
      closed = true;
      r();
    }),
  );
  return {
    socket,
    async until(text) {
      await until(() => buf.includes(text) || closed);
      const i = buf.indexOf(text);
      assert.ok(i >= 0, `closed before ${JSON.stringify(text)}; got ${JSON.stringify(buf)}`);
      const out = buf.slice(0, i + text.length);
      buf = buf.slice(i + text.length);
      return out;
    },
    closed: () => closedP.then(() => buf),
  };
}

/** TCP ports the process listens on (Linux: its socket fds matched against /proc/net/tcp{,6}). */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {}
  }
  const ports = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let lines = [];
    try {
      lines = fs.readFileSync(table, "utf8").trim().split("\n").slice(1);
    } catch {}
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A" && inodes.has(cols[9])) ports.push(Number.parseInt(cols[1].split(":")[1], 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

for (const mode of MODES) {
  test(`${mode}: TCP asks for the token; a wrong one is refused, the right one opens a session`, async () => {
    const app = await startApp({ mode, options: { tcp: { port: 0 } } });
    try {
      const port = tcpPortOf(app);
      assert.equal(descriptorOf(app).tcp.host, "127.0.0.1");
      const wrong = await ncTcp(port, "not-the-token\n1+1\n");
      assert.equal(wrong.stdout, `token: ${WRONG}`);
      const right = await ncTcp(port, `${tokenOf(app)}\n1+1\n`);
      assert.match(right.stdout, /^token: manhole: pid \d+, node v[\d.]+/);
      assert.match(right.stdout, />>> 2\n>>> $/);
      // Nothing is evaluated before the token: the first line is taken as the token.
      const early = await ncTcp(port, "1+1\n");
      assert.equal(early.stdout, `token: ${WRONG}`);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the token file is 0600, matches the handle, and is removed on close`, async () => {
    const app = await startApp({ mode, options: { tcp: { port: 0 } } });
    try {
      const file = tokenFileOf(app);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.match(tokenOf(app), /^[A-Za-z0-9_-]{43}$/); // 32 random bytes, base64url
      const c = talk(net.connect(tcpPortOf(app), "127.0.0.1"));
      await c.until("token: ");
      c.socket.write(`${tokenOf(app)}\n`);
      await c.until(">>> ");
      const { host, port, tokenPath } = { host: "127.0.0.1", port: tcpPortOf(app), tokenPath: file };
      c.socket.write(`JSON.stringify(manholeHandle.tcp) === ${JSON.stringify(JSON.stringify({ host, port, tokenPath }))}\n`);
      assert.equal(await c.until(">>> "), "true\n>>> ");
      c.socket.write("void manholeHandle.close()\n");
      await c.closed();
      // The main thread removes the socket, the token file and the descriptor one after the
      // other as close() ends: wait for all of them, not for the first.
      const descriptor = path.join(app.dir, `${app.child.pid}.json`);
      await until(() => !fs.existsSync(file) && !fs.existsSync(descriptor));
      assert.equal(fs.existsSync(file) || fs.existsSync(descriptor), false);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the token file is removed on process.exit and on SIGTERM/SIGINT when the app's handler then exits`, async () => {
    const script = path.join(ROOT, "test", "fixtures", "tcp-signals.cjs");
    const options = { tcp: { port: 0 } };
    for (const [how, stop] of [
      ["exit", "process.exit"],
      ["exit", "SIGTERM"],
      ["exit", "SIGINT"],
      ["drain", "SIGTERM"],
      ["drain", "SIGINT"],
    ]) {
      const app = await startApp({ mode, script, options, env: { MANHOLE_TEST_SIGNALS: how } });
      try {
        assert.ok(fs.existsSync(tokenFileOf(app)));
        if (stop === "process.exit") await runClient("nc", ["-N", "-U", app.path], "process.exit(0)\n");
        else app.child.kill(stop);
        assert.deepEqual(await app.exit, { code: 0, signal: null }, `${how} ${stop}`);
        assert.deepEqual(fs.readdirSync(app.dir), [], `${how} ${stop}: token, socket and descriptor are gone`);
      } finally {
        await app.stop();
      }
    }
  });

  test(`${mode}: a signal the app does not handle still kills it; manhole ls then removes its token file`, async () => {
    const script = path.join(ROOT, "test", "fixtures", "tcp-signals.cjs");
    for (const signal of ["SIGTERM", "SIGINT"]) {
      const app = await startApp({ mode, script, options: { tcp: { port: 0 } }, env: { MANHOLE_TEST_SIGNALS: "none" } });
      const { pid } = app.child;
      try {
        app.child.kill(signal);
        // The manhole adds no handler: Node's default disposition, no exit handlers run.
        assert.deepEqual(await app.exit, { code: null, signal });
        assert.deepEqual(fs.readdirSync(app.dir).sort(), [`${pid}.json`, `${pid}.sock`, `${pid}.token`]);
        const ls = await cli(["ls", "--json"], { MANHOLE_DIR: app.dir });
        assert.equal(ls.code, 0, ls.stderr);
        assert.deepEqual(JSON.parse(ls.stdout), []);
        assert.deepEqual(fs.readdirSync(app.dir), []);
      } finally {
        await app.stop();
      }
    }
    // A token file and socket left without a descriptor go too.
    const dir = tempDir();
    const app = await startApp({ mode, script, options: { tcp: { port: 0 } }, env: { MANHOLE_DIR: dir } });
    app.child.kill("SIGKILL");
    await app.exit;
    fs.unlinkSync(path.join(dir, `${app.child.pid}.json`));
    await cli(["ls"], { MANHOLE_DIR: dir });
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test(`${mode}: refused TCP connections are audited and said in one line each on stderr`, async () => {
    const log = path.join(tempDir(), "audit.log");
    const app = await startApp({ mode, options: { tcp: { port: 0, token: "s3cret" }, audit: log } });
    try {
      const port = tcpPortOf(app);
      assert.equal((await ncTcp(port, "guess\n")).stdout, `token: ${WRONG}`);
      assert.equal((await ncTcp(port, "")).stdout, "token: ");
      const hello = `${JSON.stringify({ op: "hello", id: 1, protocol: [1] })}\n`;
      assert.equal((await ncTcp(port, hello)).stdout, `token: ${WRONG}`);
      for (let i = 0; i < 3; i++) await ncTcp(port, "guess\n");
      assert.equal((await ncTcp(port, "s3cret\n")).stdout, TOO_MANY);
      const reasons = ["wrong token", "no token (the client ended its input)", "no token", "wrong token", "wrong token", "wrong token"];
      reasons.push("too many failed attempts (locked out)");
      await until(() => (app.stderr().match(/refused a TCP connection/g) ?? []).length >= reasons.length);
      await until(() => fs.existsSync(log) && fs.readFileSync(log, "utf8").split("\n").length > reasons.length);
      const events = fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        events.map((e) => [e.event, e.session, e.peer, e.reason]),
        reasons.map((r) => ["connection-refused", 0, { address: "127.0.0.1" }, r]),
      );
      assert.deepEqual(
        app.stderr().match(/^manhole: refused .*$/gm),
        reasons.map((r) => `manhole: refused a TCP connection from 127.0.0.1: ${r}`),
      );
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: repeated failures from one address are refused at once for a while`, async () => {
    const app = await startApp({ mode, options: { tcp: { port: 0, token: "s3cret" } } });
    try {
      const port = tcpPortOf(app);
      for (let i = 0; i < 5; i++) assert.equal((await ncTcp(port, "guess\n")).stdout, `token: ${WRONG}`);
      assert.equal((await ncTcp(port, "guess\n")).stdout, TOO_MANY);
      // Even the right token, from that address, for now.
      assert.equal((await ncTcp(port, "s3cret\n1+1\n")).stdout, TOO_MANY);
    } finally {
      await app.stop();
    }
  });
}

test("close() ends connections still waiting to present their token", async () => {
  const app = await startApp({ options: { tcp: { port: 0 }, banner: null } });
  try {
    const waiting = talk(net.connect(tcpPortOf(app), "127.0.0.1"));
    await waiting.until("token: ");
    const c = await connect(app.path);
    await c.until(">>> ");
    c.send("await manholeHandle.close()\n");
    await c.closed();
    assert.equal(await waiting.closed(), "");
  } finally {
    await app.stop();
  }
});

test("audit events of a TCP session carry the peer's address", async () => {
  const log = path.join(tempDir(), "audit.log");
  const app = await startApp({ options: { tcp: { port: 0, token: "s3cret" }, audit: log } });
  try {
    assert.match((await ncTcp(tcpPortOf(app), "s3cret\n1+1\n")).stdout, />>> 2\n/);
    await until(() => fs.existsSync(log) && fs.readFileSync(log, "utf8").includes('"session-close"'));
    const events = fs
      .readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      events.map((e) => [e.event, e.peer]),
      ["session-open", "eval", "session-close"].map((e) => [e, { address: "127.0.0.1" }]),
    );
  } finally {
    await app.stop();
  }
});

test("a structured client may send the token in its hello", async () => {
  const app = await startApp({ options: { tcp: { port: 0, token: "s3cret" }, banner: null } });
  try {
    const port = tcpPortOf(app);
    const ok = talk(net.connect(port, "127.0.0.1"));
    ok.socket.write(`${JSON.stringify({ op: "hello", id: 1, protocol: [1], token: "s3cret" })}\n`);
    assert.match(await ok.until("\n"), /"op":"hello","id":1/);
    ok.socket.write(`${JSON.stringify({ op: "eval", id: 2, code: "1+1" })}\n`);
    assert.match(await ok.until('"id":2'), /"op":"value"/);
    ok.socket.end();
    const bad = talk(net.connect(port, "127.0.0.1"));
    bad.socket.write(`${JSON.stringify({ op: "hello", id: 1, protocol: [1], token: "nope" })}\n`);
    assert.equal(await bad.closed(), `token: ${WRONG}`);
    const none = talk(net.connect(port, "127.0.0.1"));
    none.socket.write(`${JSON.stringify({ op: "hello", id: 1, protocol: [1] })}\n`);
    assert.equal(await none.closed(), `token: ${WRONG}`);
  } finally {
    await app.stop();
  }
});

test("manhole exec host:port: token from the token file, --token, MANHOLE_TOKEN; a wrong one exits 5", async () => {
  const app = await startApp({ options: { tcp: { port: 0 } } });
  try {
    const target = `127.0.0.1:${tcpPortOf(app)}`;
    const fromFile = await cli(["exec", target, "1+1"], { MANHOLE_DIR: app.dir, MANHOLE_TOKEN: "" });
    assert.deepEqual(fromFile, { stdout: "2\n", stderr: "", code: 0 });
    const empty = tempDir();
    const fromOption = await cli(["exec", "--token", tokenOf(app), target, "6*7"], { MANHOLE_DIR: empty });
    assert.equal(fromOption.stdout, "42\n");
    const fromEnv = await cli(["exec", target, "'env'"], { MANHOLE_DIR: empty, MANHOLE_TOKEN: tokenOf(app) });
    assert.equal(fromEnv.stdout, "'env'\n");
    const wrong = await cli(["exec", "--token", "wrong", target, "1+1"], { MANHOLE_DIR: empty });
    assert.equal(wrong.code, 5);
    assert.match(wrong.stderr, /wrong token/);
    const piped = await runClient(process.execPath, [CLI, "connect", "--token", tokenOf(app), target], "1+1\n40+2\n");
    assert.deepEqual([piped.stdout, piped.code], ["2\n42\n", 0]);
    const none = await cli(["exec", target, "1+1"], { MANHOLE_DIR: empty, MANHOLE_TOKEN: "" });
    assert.equal(none.code, 5);
    assert.match(none.stderr, /no token/);
  } finally {
    await app.stop();
  }
});

const noOpenssl = spawnSync("openssl", ["version"]).error ? "openssl is missing" : false;

for (const mode of MODES) {
  test(`${mode}: TLS with a self-signed certificate`, { skip: noOpenssl }, async () => {
    const dir = tempDir();
    const made = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-subj", "/CN=localhost", "-days", "1"],
      { cwd: dir, encoding: "utf8" },
    );
    assert.equal(made.status, 0, made.stderr);
    const key = fs.readFileSync(path.join(dir, "k.pem"), "utf8");
    const cert = fs.readFileSync(path.join(dir, "c.pem"), "utf8");
    const app = await startApp({ mode, options: { tcp: { port: 0 }, tls: { key, cert } } });
    try {
      const port = tcpPortOf(app);
      const c = talk(tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }));
      await c.until("token: ");
      c.socket.write(`${tokenOf(app)}\n`);
      assert.match(await c.until(">>> "), /^manhole: pid \d+/);
      c.socket.write("1+1\n");
      assert.equal(await c.until(">>> "), "2\n>>> ");
      c.socket.end();
      // The certificate verifies against itself as the CA (its name is localhost).
      const trusted = talk(
        tls.connect({ host: "127.0.0.1", port, ca: cert, servername: "localhost", checkServerIdentity: () => undefined }),
      );
      await trusted.until("token: ");
      trusted.socket.destroy();
      // Plain TCP gets no token prompt from a TLS listener.
      const plain = await ncTcp(port, `${tokenOf(app)}\n1+1\n`);
      assert.doesNotMatch(plain.stdout, /token: |2\n/);
      const env = { MANHOLE_DIR: app.dir, MANHOLE_TOKEN: "" };
      assert.deepEqual(await cli(["exec", "--insecure", `127.0.0.1:${port}`, "1+1"], env), { stdout: "2\n", stderr: "", code: 0 });
      const verified = await cli(["exec", "--tls", `127.0.0.1:${port}`, "1+1"], env);
      assert.notEqual(verified.code, 0, "a self-signed certificate is not trusted without --insecure or --ca");
      // The descriptor says the listener is TLS, and ls shows it.
      assert.deepEqual(descriptorOf(app).tcp, { host: "127.0.0.1", port, tls: true });
      const listed = await cli(["ls", "--json"], env);
      assert.deepEqual(JSON.parse(listed.stdout)[0].tcp, { host: "127.0.0.1", port, tls: true });
      assert.match((await cli(["ls"], env)).stdout, new RegExp(` 127\\.0\\.0\\.1:${port} \\(tls\\) `));
    } finally {
      await app.stop();
    }
  });
}

test("no TCP listener, token file or descriptor entry without the option", {
  skip: process.platform !== "linux" && "Linux only",
}, async () => {
  const app = await startApp();
  try {
    assert.deepEqual(listeningPorts(app.child.pid), [app.port]); // the fixture's own HTTP server only
    assert.equal(descriptorOf(app).tcp, undefined);
    assert.equal(fs.existsSync(tokenFileOf(app)), false);
  } finally {
    await app.stop();
  }
  const withTcp = await startApp({ options: { tcp: { port: 0 } } });
  try {
    assert.deepEqual(
      listeningPorts(withTcp.child.pid),
      [withTcp.port, tcpPortOf(withTcp)].sort((a, b) => a - b),
    );
  } finally {
    await withTcp.stop();
  }
});

test("the tcp option accepts only loopback hosts, and tls needs tcp", async () => {
  await assert.rejects(startApp({ options: { tcp: { port: 0, host: "0.0.0.0" } } }), /must be a loopback address/);
  await assert.rejects(startApp({ options: { tls: { key: "k", cert: "c" } } }), /needs the "tcp" option/);
});
