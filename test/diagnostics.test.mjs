// The live diagnostics (.handles, .requests, .loop, .mem, .gc, .report) against a real app with a
// server, keep-alive connections, a held request, an interval, a child process and a watcher;
// every JSON reply is checked against its shape in docs/protocol.md.
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, PROMPT, ROOT, runClient, startApp } from "./helpers.mjs";
import { checkShape as check, SHAPES } from "./protocol-shapes.mjs";

const FIXTURE = path.join(ROOT, "test", "fixtures", "diagnostics.cjs");
const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const SECRET = "s3cr3t-value-for-the-report-test";
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  let id = 1;
  return {
    c,
    /** Runs operation `name`; resolves to its final reply, with the `out` lines it streamed. */
    async command(name, args) {
      const my = ++id;
      c.send(`${JSON.stringify({ op: "command", id: my, name, ...(args === undefined ? {} : { args }) })}\n`);
      const out = [];
      for (;;) {
        const reply = JSON.parse(await c.until("\n", 20_000));
        if (reply.op === "out") out.push(reply.text);
        else return { ...reply, out };
      }
    },
    async eval(code) {
      const my = ++id;
      c.send(`${JSON.stringify({ op: "eval", id: my, code })}\n`);
      for (;;) {
        const reply = JSON.parse(await c.until("\n", 20_000));
        if (reply.op !== "out") return reply;
      }
    },
    send: (obj) => c.send(`${JSON.stringify(obj)}\n`),
  };
}

/** `name`'s result, its JSON checked against its shape. */
async function json(s, name, args) {
  const reply = await s.command(name, args);
  assert.equal(reply.op, "result", JSON.stringify(reply));
  check(SHAPES[name], reply.json, name);
  return reply;
}

describe("live diagnostics", () => {
  let app;
  let s;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  const get = (p) =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: "127.0.0.1", port: app.port, path: p, agent }, (res) => {
        res.resume();
        res.on("end", () => resolve(req.socket));
      });
      req.on("error", reject);
    });
  const ourPorts = new Set();

  before(async () => {
    app = await startApp({ script: FIXTURE, options: { timeout: 60_000 }, env: { MANHOLE_TEST_SECRET: SECRET } });
    // Two keep-alive connections, left open.
    for (const socket of await Promise.all([get("/"), get("/")])) ourPorts.add(socket.localPort);
    assert.equal(ourPorts.size, 2);
    s = await structured(app);
  });
  after(async () => {
    agent.destroy();
    await app?.stop();
  });

  test(".handles lists the server's port, both connections, the child and the watcher; --all the interval", async () => {
    const { json: h, text } = await json(s, "handles");
    const server = h.items.find((i) => i.kind === "server");
    assert.equal(server.address, `127.0.0.1:${app.port}`);
    const sockets = h.items.filter((i) => i.kind === "socket" && i.local === `127.0.0.1:${app.port}`);
    assert.deepEqual(new Set(sockets.map((i) => Number(i.remote.split(":")[1]))), ourPorts);
    assert.ok(sockets.every((i) => i.bytesRead > 0 && i.bytesWritten > 0));
    assert.ok(h.items.some((i) => i.kind === "child" && i.pid > 0 && /setInterval/.test(i.command)));
    assert.ok(h.items.some((i) => i.kind === "watcher"));
    assert.ok(h.counts.Timeout >= 1);
    assert.match(text, new RegExp(`^\\d+ active resources: .*\\n  server .*listening on 127\\.0\\.0\\.1:${app.port}, 2 connections`));
    const all = await json(s, "handles", "--all");
    const timer = all.json.items.find((i) => i.kind === "timer" && i.callback === "appHeartbeat");
    assert.equal(timer.delayMs, 500);
    assert.equal(timer.repeat, true);
    assert.equal(timer.ref, true);
    assert.equal(all.json.timers.listed, true);
    const limited = await json(s, "handles", { limit: 1 });
    assert.equal(limited.json.items.length, 1);
    assert.ok(limited.json.more > 0);
    assert.match(limited.text, /… and \d+ more/);
  });

  test(".requests shows the held request with its url and age, and the outgoing fetch", async () => {
    await json(s, "requests"); // subscribes
    const held = get("/hold?ms=3000");
    const fetching = http.get({ host: "127.0.0.1", port: app.port, path: "/fetch?ms=3000" }, (res) => res.resume());
    await sleep(1200);
    const { json: r, text } = await json(s, "requests");
    const hold = r.server.find((x) => x.url === "/hold?ms=3000");
    assert.ok(hold, text);
    assert.equal(hold.method, "GET");
    assert.ok(hold.ageMs >= 1000, `age ${hold.ageMs}`);
    assert.equal(hold.slow, true);
    assert.match(hold.peer, /^127\.0\.0\.1:\d+$/);
    assert.ok(
      r.client.some((x) => x.via === "fetch" && x.url.endsWith("/hold?ms=3000")),
      text,
    );
    assert.match(text, /SLOW +1\.\d s {2}GET \/hold\?ms=3000 {2}from 127\.0\.0\.1:\d+/);
    await held;
    await new Promise((resolve) => fetching.on("close", resolve));
    const done = await json(s, "requests");
    assert.equal(done.json.server.filter((x) => x.url.startsWith("/hold")).length, 0);
  });

  test(".loop reports a delay of 200 ms or more while the app blocks its loop 300 ms a second", async () => {
    const quiet = await json(s, "loop", "0.5");
    assert.ok(quiet.json.delayMs.max < 200, JSON.stringify(quiet.json));
    assert.equal((await s.eval("globalThis.blocker = blockEachSecond(300); 1")).op, "value");
    try {
      const { json: l, text } = await json(s, "loop", { window: "2.5s" });
      assert.ok(l.delayMs.max >= 200, text);
      assert.ok(l.utilization > 0.1, text);
      assert.match(text, /^event loop over 2\.\d s: delay p50 .*, max \d+ ms; utilisation \d+%/);
    } finally {
      await s.eval("clearInterval(globalThis.blocker)");
    }
  });

  test(".mem agrees with process.memoryUsage() read in the same session", async () => {
    const usage = (await s.eval("process.memoryUsage()")).json;
    const { json: m, text } = await json(s, "mem");
    const near = (a, b) => Math.abs(a - b) <= Math.max(8 * 1024 * 1024, 0.25 * b);
    for (const key of ["rss", "heapTotal", "heapUsed", "external"])
      assert.ok(near(m[key], usage[key]), `${key}: ${m[key]} vs ${usage[key]}`);
    assert.ok(m.heapLimit > m.heapTotal);
    assert.ok(m.spaces.some((x) => x.name === "old_space"));
    assert.ok(m.growth.sinceMs > 0);
    assert.match(text, /^rss \d+\.\d MiB, heap .* used of .* \(limit .*\)/);
  });

  test(".gc collects and says what it freed", async () => {
    const { json: g, text } = await json(s, "gc");
    assert.equal(g.collected, true);
    assert.equal(g.how, "exposed");
    assert.ok(g.durationMs > 0);
    assert.match(text, /^full collection in .*: heap used .* → /);
    // Threaded: the manhole's own worker thread is collected too, and said apart.
    assert.ok(g.manholeWorker.after.heapUsed > 0 && g.manholeWorker.after.heapUsed <= g.manholeWorker.before.heapTotal);
    assert.match(text, /\nthe manhole's own worker thread: heap used .* → .*, heap total .* → .*$/);
  });

  test(".report redacts the environment's values unless --env", async () => {
    const redacted = await json(s, "report");
    assert.equal(redacted.json.report.environmentVariables.MANHOLE_TEST_SECRET, "[redacted]");
    assert.ok(!JSON.stringify(redacted).includes(SECRET));
    assert.equal(redacted.json.summary.pid, app.child.pid);
    assert.match(redacted.text, /environment: \d+ variables, values redacted/);
    const full = await json(s, "report", "--env");
    assert.equal(full.json.report.environmentVariables.MANHOLE_TEST_SECRET, SECRET);
  });

  test("while the loop is blocked: .handles, .mem, .report and .loop answer and say so; .requests says it waits", async () => {
    const other = await structured(app);
    other.send({ op: "eval", id: 50, code: "blockEventLoop(4000)" });
    await sleep(600);
    const h = await json(s, "handles");
    assert.equal(h.json.loop.blocked, true);
    assert.equal(h.json.items.find((i) => i.kind === "server").address, `127.0.0.1:${app.port}`);
    assert.match(h.text, /blocked for .*: read through the inspector/);
    const m = await json(s, "mem");
    assert.equal(m.json.loop.blocked, true);
    assert.equal(m.json.growth, null);
    const r = await json(s, "report");
    assert.ok(r.json.summary.nativeStack.length > 0);
    assert.ok(
      r.json.summary.javascriptStack.some((f) => /blockEventLoop/.test(f)),
      r.text,
    );
    const l = await json(s, "loop", "1s");
    assert.ok(l.json.blocked.sinceMs > 250);
    assert.match(l.json.blocked.stack, /at blockEventLoop/);
    s.send({ op: "command", id: 60, name: "requests" });
    const waiting = JSON.parse(await s.c.until("\n"));
    assert.equal(waiting.op, "out");
    assert.match(waiting.text, /waiting for the main thread: its event loop is blocked/);
    s.send({ op: "interrupt", id: 61 });
    const replies = [JSON.parse(await s.c.until("\n")), JSON.parse(await s.c.until("\n"))];
    assert.ok(
      replies.some((x) => x.id === 60 && x.op === "result" && x.text === "Interrupted"),
      JSON.stringify(replies),
    );
    other.c.destroy();
    await sleep(3500);
  });

  test("human mode: options, --json after any dot-command", async () => {
    const c = await connect(app.path);
    await c.until(PROMPT);
    assert.match(await c.eval(".handles --all --limit 40"), /timer +every 500 ms: appHeartbeat/);
    const printed = JSON.parse(await c.eval(".mem --json"));
    check(SHAPES.mem, printed);
    assert.match(await c.eval(".loop soon"), /^\.loop: window must be a duration/);
    c.end();
  });

  test("CLI: manhole <op> <pid> [args] --json, its own --help, --all rows", async () => {
    const env = { MANHOLE_DIR: app.dir };
    const loop = await runClient(process.execPath, [MAIN, "loop", String(app.child.pid), "0.3", "--json"], "", { env });
    assert.equal(loop.code, 0, loop.stderr);
    check(SHAPES.loop, JSON.parse(loop.stdout));
    const limited = await runClient(process.execPath, [MAIN, "handles", app.path, "--limit", "1", "all=yes"], "", { env });
    assert.equal(limited.code, 0, limited.stderr);
    assert.match(limited.stdout, /… and \d+ more/);
    const help = await runClient(process.execPath, [MAIN, "loop", String(app.child.pid), "--help"], "", { env });
    assert.match(help.stdout, /^Usage: manhole loop \[options\] <pid\|socket\|host:port> \[window\] \[--stack\]/);
    assert.match(help.stdout, /how long to measure \(a bare number is seconds\) \(duration, default 5\.0s\)/);
    const rows = await runClient(process.execPath, [MAIN, "mem", "--all"], "", { env });
    assert.equal(rows.code, 0, rows.stderr);
    assert.match(rows.stdout, new RegExp(`^${app.child.pid} +\\S+ +rss \\d`));
    const bad = await runClient(process.execPath, [MAIN, "loop", String(app.child.pid), "--bogus"], "", { env });
    assert.equal(bad.code, 2);
  });
});

test("threaded: false and observe-only: every diagnostic answers in its shape; .gc and --env are refused when observe-only", async () => {
  const app = await startApp({ script: FIXTURE, mode: "inline", options: { observeOnly: true } });
  try {
    const s = await structured(app);
    for (const [name, args] of [["handles"], ["handles", "--all"], ["requests"], ["loop", "0.2"], ["mem"], ["report"]]) {
      const reply = await json(s, name, args);
      if (name === "handles" && args) assert.match(reply.text, /timers are listed only in threaded mode/);
    }
    assert.equal((await s.command("gc")).error.name, "ObserveOnly");
    assert.match((await s.command("report", "--env")).text, /--env is refused in observe-only mode/);
    const c = await connect(app.path);
    assert.match(
      await c.until(PROMPT),
      /observe-only: evaluation is disabled; \.help, \.exit(, \.worker)? and the diagnostics \(\.stack, .*\.mem, \.report, \.profile(, \.workers)?\) work/,
    );
    c.end();
  } finally {
    await app.stop();
  }
});
