// What a manhole costs a busy host: a node:http server under saturating load (autocannon, in
// this process) without a manhole, with one idle (threaded, and threaded: false), with a
// session evaluating `1+1` ten times a second, and with `manhole top`'s sampling attached.
// Requests per second and p99 latency as ratios to no manhole, measured interleaved: each
// round runs every variant once, in a rotating order, and a ratio is the median over rounds of
// that round's variant / no manhole. With `taskset` the servers run on CPU 0 and this process
// (the load) on CPU 1, as the set-up asks; without it they share the machine's CPUs.
//
//   node bench/host-overhead.js     (after `npm run build`)
//   BENCH_SECONDS=5 BENCH_ROUNDS=5 BENCH_CONNECTIONS=20 node bench/host-overhead.js
"use strict";
const { execFileSync } = require("node:child_process");
const net = require("node:net");
const os = require("node:os");
const path = require("node:path");
const autocannon = require("autocannon");
const { privateTempDir, startChild, cleanup, median, table, record, machine } = require("./lib.js");

const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 4);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 10);
const SERVER = path.join(__dirname, "servers", "http-load.js");
const TOP = path.join(__dirname, "..", "dist", "cli", "top.js");
const TARGET = { idle: 0.99, active: 0.97, p99: 1.05 };

/** Pins `pid` to `cpu` when taskset is there and the machine has two CPUs or more. */
function pin(pid, cpu) {
  if (os.cpus().length < 2) return false;
  try {
    execFileSync("taskset", ["-cp", String(cpu), String(pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** A structured session evaluating `1+1` every `everyMs`; returns stop() → answers counted. */
async function evaluating(socketPath, everyMs) {
  const socket = net.createConnection(socketPath);
  socket.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.write(`${JSON.stringify({ op: "hello", id: 1, protocol: [1], client: "bench" })}\n`);
  let answers = 0;
  let id = 1;
  socket.on("data", (d) => {
    answers += d.split('"op":"value"').length - 1;
  });
  const timer = setInterval(() => socket.write(`{"op":"eval","id":${++id},"code":"1+1"}\n`), everyMs);
  return () => {
    clearInterval(timer);
    socket.destroy();
    return answers;
  };
}

/** `manhole top`'s sampling, one session asking once a second (its own module, without a terminal). */
async function sampling(socketPath) {
  const { ManholeClient } = require("../dist/cli/client.js");
  const { sampleOnce } = require(TOP);
  const client = await ManholeClient.connect(socketPath);
  let running = true;
  const done = (async () => {
    let last;
    while (running) {
      last = await sampleOnce(client, "bench", last);
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return async () => {
    running = false;
    await done;
    client.close();
  };
}

async function load(port) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, duration: SECONDS });
  if (r.non2xx || r.errors) throw new Error(`bad responses: ${r.non2xx} non-2xx, ${r.errors} errors`);
  return { rps: r.requests.total / SECONDS, p99: r.latency.p99 };
}

const VARIANTS = [
  { key: "none", label: "no manhole", mode: "none" },
  { key: "idle-threaded", label: "idle, threaded", mode: "threaded" },
  { key: "idle-inline", label: "idle, threaded: false", mode: "inline" },
  { key: "active-threaded", label: "session: 1+1 ten times a second, threaded", mode: "threaded", during: (s) => evaluating(s, 100) },
  { key: "active-inline", label: "session: 1+1 ten times a second, threaded: false", mode: "inline", during: (s) => evaluating(s, 100) },
  { key: "top", label: "manhole top attached, threaded", mode: "threaded", during: sampling },
];

async function main() {
  const dir = privateTempDir("mh-bench-host-");
  const pinnedLoad = pin(process.pid, 1);
  let pinnedServers = pinnedLoad;
  for (const v of VARIANTS) {
    v.socket = path.join(dir, `${v.key}.sock`);
    const { child, first } = await startChild(SERVER, ["plain", v.mode, v.socket], { env: { MANHOLE_DIR: dir } });
    pinnedServers = pin(child.pid, 0) && pinnedServers;
    v.port = first.port;
    v.runs = [];
    await load(v.port); // warm-up: JIT, sockets
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const v = VARIANTS[(k + round) % VARIANTS.length];
      const stop = v.during ? await v.during(v.socket) : undefined;
      const r = await load(v.port);
      if (stop) await stop();
      v.runs.push(r);
    }
  }
  const none = VARIANTS[0];
  const ratio = (v, field) => median(v.runs.map((r, i) => r[field] / none.runs[i][field]));
  console.log("Host overhead: a node:http server under load (autocannon), with and without a manhole");
  console.log(machine());
  console.log(
    `${ROUNDS} interleaved rounds of ${SECONDS} s per variant, ${CONNECTIONS} connections; ` +
      (pinnedServers ? "servers pinned to CPU 0, load to CPU 1" : "not pinned (taskset or a second CPU missing)") +
      "\n",
  );
  const rows = VARIANTS.map((v) => {
    const target = v.key === "none" ? "" : v.key.startsWith("idle") ? TARGET.idle : TARGET.active;
    const rps = ratio(v, "rps");
    const p99 = ratio(v, "p99");
    if (v.key !== "none") {
      record(`${v.key} req/s ratio`, Number(rps.toFixed(3)));
      record(`${v.key} p99 ratio`, Number(p99.toFixed(3)));
    }
    return [
      v.label,
      Math.round(median(v.runs.map((r) => r.rps))),
      v.key === "none" ? "1.00" : rps.toFixed(3),
      target === "" ? "" : `>= ${target} ${rps >= target ? "MET" : "NOT MET"}`,
      median(v.runs.map((r) => r.p99)).toFixed(1),
      v.key === "none" ? "1.00" : p99.toFixed(3),
      v.key === "none" ? "" : `<= ${TARGET.p99} ${p99 <= TARGET.p99 ? "MET" : "NOT MET"}`,
    ];
  });
  table(["variant", "req/s", "ratio", "target", "p99 ms", "ratio", "target"], rows);
  record("pinned", pinnedServers);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
