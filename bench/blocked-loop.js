// Time from an input to its "blocked" answer while the app's main thread spins in JavaScript:
// a structured eval sent during a block, timed until its {op:"blocked"} event. Each round
// blocks the app once and sends BENCH_PER_BLOCK inputs one after the other (each cancelled by
// an interrupt after its answer, so none runs later). With BENCH_BASELINE another build runs
// interleaved, round by round. Then, this build only: `pause` during a block until its reply
// (the thread stopped at a statement, frames and locals read), BENCH_PER_BLOCK evaluations in
// the paused frame, and `resume`.
//
//   node bench/blocked-loop.js            (after `npm run build`)
//   BENCH_ROUNDS=10 BENCH_PER_BLOCK=20 node bench/blocked-loop.js
"use strict";
const net = require("node:net");
const path = require("node:path");
const { privateTempDir, startChild, cleanup, percentile, median, table, machine } = require("./lib.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 6);
const PER_BLOCK = Number(process.env.BENCH_PER_BLOCK || 15);
const TARGET_P99_MS = 100;
const PAUSE_P99_MS = 150;
const PAUSED_EVAL_P50_MS = 5;
const SERVER = path.join(__dirname, "servers", "blocking.js");

function client(socketPath) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.setEncoding("utf8");
    socket.on("error", reject);
    let buf = "";
    const waiters = [];
    socket.on("data", (d) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.includes("{")) continue;
        const msg = JSON.parse(line.slice(line.indexOf("{")));
        if (process.env.BENCH_DEBUG) console.error(line);
        const i = waiters.findIndex((w) => w.match(msg));
        if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
      }
    });
    const until = (match) => new Promise((r) => waiters.push({ match, resolve: r }));
    socket.once("connect", async () => {
      socket.write('{"op":"hello","id":1,"protocol":[1]}\n');
      await until((m) => m.op === "hello");
      resolve({ send: (o) => socket.write(`${JSON.stringify(o)}\n`), until, end: () => socket.end() });
    });
  });
}

async function main() {
  const targets = [{ label: "this build", agent: undefined }];
  if (process.env.BENCH_BASELINE) targets.push({ label: "baseline", agent: path.resolve(process.env.BENCH_BASELINE) });
  for (const t of targets) {
    t.socket = path.join(privateTempDir("mh-bench-"), "m.sock");
    t.server = await startChild(SERVER, t.agent ? [t.socket, t.agent] : [t.socket]);
    t.client = await client(t.socket);
    t.samples = [];
    t.missing = 0;
  }
  let id = 2;
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of targets) {
      t.server.child.stdin.write(`block ${PER_BLOCK * 150 + 1000}\n`);
      await t.server.next(); // {blocking}
      await new Promise((r) => setTimeout(r, 400)); // past the heartbeat's threshold
      for (let i = 0; i < PER_BLOCK; i++) {
        const evalId = id++;
        const sent = process.hrtime.bigint();
        t.client.send({ op: "eval", id: evalId, code: "1" });
        const first = await Promise.race([
          t.client.until((m) => m.id === evalId && m.op === "blocked"),
          new Promise((r) => setTimeout(r, 1000, undefined)),
        ]);
        if (first) t.samples.push(Number(process.hrtime.bigint() - sent) / 1e6);
        else t.missing++;
        t.client.send({ op: "interrupt", id: id++ });
        await t.client.until((m) => m.id === evalId && (m.op === "error" || m.op === "value"));
      }
      await t.server.next(); // {unblocked}
    }
  }
  // .pause: this build only (a baseline may not have it).
  const t = targets[0];
  const pauses = [];
  const pausedEvals = [];
  let notPaused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    t.server.child.stdin.write("block 5000\n");
    await t.server.next(); // {blocking}
    await new Promise((r) => setTimeout(r, 400));
    const pauseId = id++;
    let sent = process.hrtime.bigint();
    t.client.send({ op: "command", id: pauseId, name: "pause" });
    const paused = await t.client.until((m) => m.id === pauseId && (m.op === "result" || m.op === "error"));
    if (paused.json?.paused) {
      pauses.push(Number(process.hrtime.bigint() - sent) / 1e6);
      for (let i = 0; i < PER_BLOCK; i++) {
        const evalId = id++;
        sent = process.hrtime.bigint();
        t.client.send({ op: "eval", id: evalId, code: "job.ms" });
        await t.client.until((m) => m.id === evalId && (m.op === "value" || m.op === "error"));
        pausedEvals.push(Number(process.hrtime.bigint() - sent) / 1e6);
      }
      const resumeId = id++;
      t.client.send({ op: "command", id: resumeId, name: "resume" });
      await t.client.until((m) => m.id === resumeId);
    } else notPaused++;
    await t.server.next(); // {unblocked}
  }
  console.log(`blocked-loop: ${ROUNDS} blocks x ${PER_BLOCK} inputs per target; ${machine()}`);
  const rows = targets.map((t) => {
    const s = [...t.samples].sort((a, b) => a - b);
    return [
      t.label,
      s.length,
      t.missing,
      median(s).toFixed(1),
      percentile(s, 99).toFixed(1),
      percentile(s, 99) <= TARGET_P99_MS ? "yes" : "NO",
    ];
  });
  table(["input → blocked answer (ms)", "n", "no answer", "p50", "p99", `p99 ≤ ${TARGET_P99_MS}`], rows);
  const p = [...pauses].sort((a, b) => a - b);
  const e = [...pausedEvals].sort((a, b) => a - b);
  console.log("");
  table(
    ["this build (ms)", "n", "not paused", "p50", "p99", "target"],
    [
      [
        ".pause → paused reply",
        p.length,
        notPaused,
        median(p).toFixed(1),
        percentile(p, 99).toFixed(1),
        `p99 ≤ ${PAUSE_P99_MS}: ${percentile(p, 99) <= PAUSE_P99_MS ? "yes" : "NO"}`,
      ],
      [
        "one paused evaluation",
        e.length,
        "",
        median(e).toFixed(2),
        percentile(e, 99).toFixed(2),
        `p50 ≤ ${PAUSED_EVAL_P50_MS}: ${median(e) <= PAUSED_EVAL_P50_MS ? "yes" : "NO"}`,
      ],
    ],
  );
  for (const t of targets) t.client.end();
  await cleanup();
}
main().catch(async (err) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
