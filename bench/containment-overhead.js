// What containment costs the app: requests per second of an HTTP server without a manhole,
// and of the same server with a manhole whose session evaluates `1` once a second (so that
// containment switches on every second, as it does for a user at the prompt). Two servers:
//   await  each request awaits 20 chained promises (what a promise hook slows down)
//   stat   each request makes one fs.stat (a callback of Node's, what an async hook slows down)
// Load from autocannon in this process; the variants run interleaved (A/B/A/B...) so that a
// noisy neighbour on a shared machine hurts them alike. The ratio is the median over rounds of
// with / without in the same round (a drift in the machine's load cancels within a round).
// A control row runs the server without a manhole a second time: its distance from 1.00 is the
// noise of the machine, against which to read the other ratios.
// Beside throughput, requests per CPU second of the server process: what the app pays, and less
// sensitive than req/s to what the neighbours do.
//
//   node bench/containment-overhead.js    (after `npm run build`)
//   BENCH_SECONDS=5 BENCH_ROUNDS=3 BENCH_CONNECTIONS=10 BENCH_MODES=threaded,inline node bench/containment-overhead.js
"use strict";
const net = require("node:net");
const path = require("node:path");
const autocannon = require("autocannon");
const { privateTempDir, startChild, stopChild, cleanup, median, table, machine } = require("./lib.js");

const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 10);
const MODES = (process.env.BENCH_MODES || "threaded").split(",");
const SERVER = path.join(__dirname, "servers", "http-load.js");
const TARGET_RATIO = 0.97;

/** A session that evaluates `1` once a second; resolves to a stop function. */
async function evaluateEverySecond(socketPath) {
  const socket = net.createConnection(socketPath);
  socket.setEncoding("utf8");
  let buf = "";
  socket.on("data", (d) => (buf += d));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let answered = 0;
  const timer = setInterval(() => {
    if (buf.includes("1\n")) answered++;
    buf = "";
    socket.write("1\n");
  }, 1000);
  socket.write("1\n");
  return () => {
    clearInterval(timer);
    socket.destroy();
    return answered;
  };
}

async function load(port) {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: SECONDS });
  if (result.non2xx || result.errors) throw new Error(`bad responses: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.total / SECONDS;
}

/** One measured run of `kind` in `mode` ("none" or a manhole mode): { rps, perCpu }. */
async function run(kind, mode, dir) {
  const socketPath = path.join(dir, `${kind}-${mode}.sock`);
  const { child, first, next } = await startChild(SERVER, [kind, mode === "control" ? "none" : mode, socketPath]);
  const cpu = () => {
    child.stdin.write("cpu\n");
    return next();
  };
  try {
    await autocannon({ url: `http://127.0.0.1:${first.port}/`, connections: CONNECTIONS, duration: 1 }); // warm-up
    const manhole = mode !== "none" && mode !== "control";
    const stop = manhole ? await evaluateEverySecond(socketPath) : () => undefined;
    const before = await cpu();
    const rps = await load(first.port);
    const after = await cpu();
    const answered = stop();
    if (manhole && answered < SECONDS - 1) throw new Error(`${kind}/${mode}: the session got ${answered} answers in ${SECONDS} s`);
    return { rps, perCpu: (after.requests - before.requests) / ((after.cpuUs - before.cpuUs) / 1e6) };
  } finally {
    await stopChild(child);
  }
}

async function main() {
  const dir = privateTempDir("mh-bench-");
  const rows = [];
  let worst = Number.POSITIVE_INFINITY;
  let worstCpu = Number.POSITIVE_INFINITY;
  for (const kind of ["await", "stat"]) {
    const variants = ["none", "control", ...MODES];
    const samples = Object.fromEntries(variants.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) samples[v].push(await run(kind, v, dir));
    }
    const rps = (v) => samples[v].map((s) => s.rps);
    const perCpu = (v) => samples[v].map((s) => s.perCpu);
    const ratio = (v, of) => median(of(v).map((x, i) => x / of("none")[i]));
    const row = (label, v) => [
      label,
      median(rps(v)).toFixed(0),
      ratio(v, rps).toFixed(2),
      median(perCpu(v)).toFixed(0),
      ratio(v, perCpu).toFixed(2),
      rps(v)
        .map((x) => x.toFixed(0))
        .join(" "),
    ];
    rows.push(row(`${kind}: no manhole`, "none"));
    rows.push(row(`${kind}: no manhole (control)`, "control"));
    for (const v of MODES) {
      worst = Math.min(worst, ratio(v, rps));
      worstCpu = Math.min(worstCpu, ratio(v, perCpu));
      rows.push(row(`${kind}: manhole ${v}, eval 1/s`, v));
    }
  }
  console.log("Requests per second of an HTTP server, without and with a manhole whose session evaluates `1` every second");
  console.log("  await: each request awaits 20 chained promises; stat: each request makes one fs.stat");
  console.log(machine());
  console.log(`${ROUNDS} interleaved rounds of ${SECONDS} s per variant, ${CONNECTIONS} connections (autocannon)`);
  console.log("req/s, req/CPU s (of the server process): median over rounds; ratio: median over rounds of with / without in that round\n");
  table(["server", "req/s", "ratio", "req/CPU s", "ratio", "req/s by round"], rows);
  console.log(`\nworst ratio: req/s ${worst.toFixed(2)}, req/CPU s ${worstCpu.toFixed(2)} (target >= ${TARGET_RATIO})`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
