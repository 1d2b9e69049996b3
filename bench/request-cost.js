// What a manhole costs a busy HTTP server, counted in instructions per request rather than in
// requests per second: a throughput ratio on a shared 2-CPU machine moves by ±6% between two
// runs of the same server, more than the margins the targets leave (0.97, 0.99); an instruction
// count under valgrind's callgrind is repeatable whatever the neighbours do. The server
// (servers/http-load.js) runs under callgrind (--fair-sched, so that no thread waits long for
// valgrind's lock; one count per thread, summed; thread 1 is the main thread), and requests are
// counted in windows of BENCH_WINDOW (callgrind_control), one after another without a pause,
// until three in a row agree within 2%: the first thousands of requests still pay for V8's
// compilations, and so do the first after a pause in the load (an idle process gives up
// compiled code). The median of those three is the count. One connection by default: each
// request is then served alone, so the count does not depend on how many requests one turn of
// the loop happened to batch (with 4 connections, runs of the same threaded server differed by 4%).
// Variants:
//   none          no manhole
//   idle          a threaded manhole, no session (idle-inline: `threaded: false`)
//   eval1         a session evaluating `1` once a second (eval1-inline: `threaded: false`)
//   eval10        a session evaluating `1+1` ten times a second (the host-overhead issue's active session)
//   top           manhole top's own samples, back to back (a second of the loop's delay, memory,
//                 handle counts, requests in flight)
//   channels      `.requests` ran once before the count: its diagnostics_channel subscriptions stay on
//   after-eval    a session evaluated `1` and closed before the count (what an evaluation leaves)
//   after-profile `.profile 1` ran and ended before the count
//   after-watch   `.watch handlers.<kind> --count 1` saw one request and ended before the count
//                 (await's handler returns a promise: the watch of an async function)
// Work that comes by the clock (the heartbeat, the evaluations, top's samples) runs some hundreds
// of times slower per request under valgrind than in production, so it is counted apart, after
// the requests and a 4 s cool-down (the GCs that follow the end of a load): for BENCH_IDLE_MS
// with no load (the median of three parts, so that a one-off GC of the worker's heap is not read
// as a rate), taken out of the loaded count at that rate and put back at the rate it comes in
// production, per second of the real server's requests (its req/s measured outside valgrind
// first). That holds while the clock's work costs the same idle and under load. It does not for
// a threaded session at work (eval1, eval10, top): its 50 ms heartbeat and top's 100 Hz timer
// cost more waking two idle threads than turning a busy loop, so the count takes out too much. Those rows are marked unsettled, no target is read on their ratio, and the
// main thread's own count is printed as bounds: with its clock work at valgrind's rate (too much)
// and without it at the idle rate (too little).
// The ratio is instructions per request without a manhole / with it (1.000: costs nothing; for
// a CPU-bound server the throughput ratio the targets name). Skipped with a note when valgrind
// is absent.
//
//   node bench/request-cost.js    (after `npm run build`)
//   BENCH_WINDOW=1000 BENCH_MAX_WINDOWS=15 BENCH_WARMUP=1000 BENCH_REPEATS=3 BENCH_KINDS=await,stat,plain \
//     BENCH_VARIANTS=idle,eval1,top BENCH_PARALLEL=2 BENCH_CONNECTIONS=1 node bench/request-cost.js
//   BENCH_SERVER=<file>: another server that prints {"port":N} on its first line and exits when stdin ends
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const autocannon = require("autocannon");
const { privateTempDir, startChild, stopChild, cleanup, median, table, record, machine, requestsPerSecond, hasValgrind, callgrindTotal } =
  require("./lib.js");

/** Requests counted per window; the count goes on until WINDOWS windows in a row agree within STEADY_WITHIN (at most MAX_WINDOWS). */
const WINDOW = Number(process.env.BENCH_WINDOW || 1000);
const STEADY_WITHIN = 0.02;
const MAX_WINDOWS = Number(process.env.BENCH_MAX_WINDOWS || 15);
const WARMUP = Number(process.env.BENCH_WARMUP || 1000);
const REPEATS = Number(process.env.BENCH_REPEATS || 3);
// Counts do not depend on the machine's load, so runs may share the CPUs.
const PARALLEL = Number(process.env.BENCH_PARALLEL || 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 1);
const SERVER = process.env.BENCH_SERVER || path.join(__dirname, "servers", "http-load.js");
const CLIENT = path.join(__dirname, "..", "dist", "cli", "client.js");
const TOP = path.join(__dirname, "..", "dist", "cli", "top.js");
/** How long the clock-driven work is counted alone, with no load. */
const IDLE_MS = Number(process.env.BENCH_IDLE_MS || 6000);
/** Between the requests and the clock's count: what follows a load's end is not the clock's. */
const COOL_DOWN_MS = 4000;
/** The clock's rate is taken in this many parts, the requests' count over this many steady windows (the median counts). */
const WINDOWS = 3;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What each variant is: the manhole's mode (none, threaded, inline), what a session does once
 * before the count (`before`: an operation's name or code to evaluate), what it does on the
 * clock during it (`work`: top's samples, or code every `everyMs`), and the target it is read
 * against. `unsettled`: the count cannot read it (see above).
 */
const VARIANTS = {
  none: { label: "no manhole", mode: "none" },
  idle: { label: "manhole threaded, idle", mode: "threaded", target: 0.99 },
  "idle-inline": { label: "manhole threaded: false, idle", mode: "inline", target: 0.99 },
  eval1: {
    label: "threaded, eval `1` 1/s",
    mode: "threaded",
    work: { code: "1", expect: "1", everyMs: 1000 },
    target: 0.97,
    unsettled: true,
  },
  "eval1-inline": { label: "threaded: false, eval `1` 1/s", mode: "inline", work: { code: "1", expect: "1", everyMs: 1000 }, target: 0.97 },
  eval10: {
    label: "threaded, eval `1+1` 10/s",
    mode: "threaded",
    work: { code: "1+1", expect: "2", everyMs: 100 },
    target: 0.97,
    unsettled: true,
  },
  top: { label: "threaded, manhole top attached", mode: "threaded", work: "top", target: 0.97, unsettled: true },
  channels: { label: ".requests's channels left on", mode: "threaded", before: { op: "requests" }, target: 0.99 },
  "after-eval": { label: "threaded, after a session evaluated `1`", mode: "threaded", before: { code: "1" } },
  // What a heavy operation leaves behind once it has ended (nothing enabled: >= 0.99).
  "after-profile": {
    label: "threaded, after `.profile 1`",
    mode: "threaded",
    before: { line: () => ".profile 1\n", until: "saved " },
    target: 0.99,
  },
  "after-watch": {
    label: "threaded, after a `.watch` of the handler",
    mode: "threaded",
    before: { line: (kind) => `.watch handlers.${kind} --count 1\n`, until: "restored", request: true },
    target: 0.99,
  },
};
/** Per server kind, the variants counted. */
const PLAN = {
  await: ["none", "idle", "eval1", "eval1-inline", "top", "channels", "after-profile", "after-watch"],
  stat: ["none", "eval1", "eval1-inline"],
  plain: ["none", "idle", "idle-inline", "eval10", "top", "channels", "after-eval", "after-profile", "after-watch"],
};
const KINDS = (process.env.BENCH_KINDS || Object.keys(PLAN).join(",")).split(",");
const ONLY = process.env.BENCH_VARIANTS ? ["none", ...process.env.BENCH_VARIANTS.split(",")] : null;

function load(port, amount) {
  return new Promise((resolve, reject) => {
    autocannon({ url: `http://127.0.0.1:${port}/`, connections: CONNECTIONS, amount, timeout: 120 }, (err, result) => {
      if (err) return reject(err);
      if (result.non2xx || result.errors || result.timeouts) {
        return reject(new Error(`bad responses: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`));
      }
      resolve(result);
    });
  });
}

/** Requests per second of the server outside valgrind: how many requests one second of load is. */
async function realRate(kind, dir) {
  const { child, first } = await startChild(SERVER, [kind, "none", path.join(dir, `${kind}-rate.sock`)]);
  try {
    await requestsPerSecond(first.port, { connections: 10, seconds: 1 });
    return await requestsPerSecond(first.port, { connections: 10, seconds: 2 });
  } finally {
    await stopChild(child);
  }
}

/** The variant's work on its real schedule (by the clock, as in production); resolves to a stop function that resolves to the work done. */
async function startWork({ work }, socketPath) {
  if (!work) return async () => 0;
  const { ManholeClient } = require(CLIENT);
  const client = await ManholeClient.connect(socketPath);
  let done = 0;
  let stopped = false;
  let running;
  if (work === "top") {
    // manhole top's own sample, back to back, as top takes them: each watches the loop for a
    // second, then asks for memory, handle counts and requests in flight.
    const { sampleOnce } = require(TOP);
    running = (async () => {
      let last;
      while (!stopped) {
        last = await sampleOnce(client, "bench", last);
        done++;
      }
    })();
  } else {
    running = (async () => {
      while (!stopped) {
        const next = Date.now() + work.everyMs;
        const out = await client.eval(work.code);
        if (!out.ok || out.text.trim() !== work.expect) throw new Error(`eval: ${JSON.stringify(out)}`);
        done++;
        await sleep(Math.max(0, next - Date.now()));
      }
    })();
  }
  return async () => {
    stopped = true;
    await running;
    client.close();
    return done;
  };
}

/**
 * A session that does `before` once and closes: an operation or code through the structured
 * client, or (`line(kind)`) a human-mode line, read until `until`; `request`: once the output says
 * `watching`, one request to the server on `port` (the call a watch waits for).
 */
async function once(before, kind, socketPath, port) {
  if (before.line) {
    const socket = net.createConnection(socketPath);
    socket.setEncoding("utf8");
    let got = "";
    let asked = false;
    await new Promise((resolve, reject) => {
      socket.on("error", reject);
      socket.on("data", (d) => {
        got += d;
        if (before.request && !asked && got.includes("watching ")) {
          asked = true;
          http.get(`http://127.0.0.1:${port}/`, (res) => res.resume()).on("error", reject);
        }
        if (got.includes(before.until)) resolve();
      });
      socket.write(before.line(kind));
    });
    socket.end();
    return;
  }
  const { ManholeClient } = require(CLIENT);
  const client = await ManholeClient.connect(socketPath);
  const r = before.op ? await client.command(before.op) : await client.eval(before.code);
  if (!r.ok) throw new Error(r.text);
  client.close();
}

/**
 * The run's callgrind dumps, one file per thread (thread 1 is the main thread): each call dumps
 * the counters (which zeroes them) and resolves to { total, main }, the instructions counted
 * since the last dump or zeroing (dumps are numbered out.1-01, out.1-02, out.2-01, ...).
 */
function dumper(pid, out) {
  let n = 0;
  const dir = path.dirname(out);
  return () => {
    execFileSync("callgrind_control", ["-d", String(pid)], { stdio: "ignore" });
    const prefix = `${path.basename(out)}.${++n}-`;
    let total = 0;
    let main = 0;
    for (const f of fs.readdirSync(dir)) {
      if (!f.startsWith(prefix)) continue;
      const count = callgrindTotal(path.join(dir, f));
      total += count;
      if (Number(f.slice(prefix.length)) === 1) main = count;
    }
    return { total, main };
  };
}

/**
 * One counted run. Under valgrind requests run some hundreds of times slower than in production
 * and the clock does not, so work that comes by the clock (the heartbeat, an evaluation each
 * second, top's samples) would weigh that much too much per request if counted with them. The
 * requests are counted with the work going on; then the work alone, on its schedule with no load,
 * for IDLE_MS. What the clock brought during the requests (that rate times their duration) is
 * taken out, and put back at the rate it comes in production: per second of the real server,
 * i.e. over `perSecond` requests.
 */
async function perRequest(kind, variant, perSecond, dir, tag) {
  const { mode } = variant;
  const socketPath = path.join(dir, `${tag}.sock`);
  const out = path.join(dir, `callgrind-${tag}.out`);
  const { child, first } = await startChild(SERVER, [kind, mode, socketPath], {
    command: "valgrind",
    nodeArgs: [
      "-q",
      "--tool=callgrind",
      "--fair-sched=yes",
      "--separate-threads=yes",
      `--callgrind-out-file=${out}`,
      process.execPath,
      "--single-threaded",
    ],
    timeoutMs: 300000,
  });
  try {
    await load(first.port, WARMUP);
    if (variant.before) await once(variant.before, kind, socketPath, first.port);
    const stop = await startWork(variant, socketPath);
    const dump = dumper(child.pid, out);
    // Windows of WINDOW requests until the last WINDOWS of them agree within STEADY_WITHIN: the
    // first thousands of requests still pay for V8's compilations (on this thread, under
    // --single-threaded), and so does a request after a pause in the load (an idle process
    // gives up compiled code), so the load goes on without a pause from the warm-up to the end.
    const windows = [];
    const steady = () => {
      const last = windows.slice(-WINDOWS).map((w) => w.total);
      return last.length === WINDOWS && Math.max(...last) <= (1 + STEADY_WITHIN) * Math.min(...last);
    };
    while (!steady() && windows.length < MAX_WINDOWS) {
      execFileSync("callgrind_control", ["-z", String(child.pid)], { stdio: "ignore" });
      const t = Date.now();
      await load(first.port, WINDOW);
      windows.push({ ...dump(), seconds: (Date.now() - t) / 1000 });
    }
    // Then, after a cool-down not counted (the GCs that follow the end of a load, on either
    // thread, come once and in the first seconds), the clock's work alone, in WINDOWS parts of
    // which the median counts, so that one-off work landing in one part (a GC of the worker's
    // heap, some time after its warm-up) is not read as a cost per second.
    await sleep(COOL_DOWN_MS);
    const rates = [];
    for (let i = 0; i < WINDOWS; i++) {
      execFileSync("callgrind_control", ["-z", String(child.pid)], { stdio: "ignore" });
      const t = Date.now();
      await sleep(IDLE_MS / WINDOWS);
      const counted = dump();
      const seconds = (Date.now() - t) / 1000;
      rates.push({ total: counted.total / seconds, main: counted.main / seconds });
    }
    const work = await stop();
    const rate = median(rates.map((r) => r.total));
    const mainRate = median(rates.map((r) => r.main));
    const last = windows.slice(-WINDOWS);
    const perRequest = median(last.map((w) => (w.total - rate * w.seconds) / WINDOW)) + rate / perSecond;
    // The main thread's count alone, before and after its own clock work is taken out: bounds
    // for a threaded session at work, whose clock work costs less in a busy loop than idle.
    const main = median(last.map((w) => w.main / WINDOW));
    const mainLow = median(last.map((w) => (w.main - mainRate * w.seconds) / WINDOW));
    if (process.env.BENCH_DEBUG) console.error(JSON.stringify({ tag, windows, rates, work }));
    return { perRequest, perSecondIdle: rate, work, windows: windows.length, steady: steady(), main, mainLow };
  } finally {
    await stopChild(child);
    for (const f of fs.readdirSync(dir)) if (f.startsWith(path.basename(out))) fs.rmSync(path.join(dir, f), { force: true });
  }
}

/** Runs the jobs `PARALLEL` at a time. */
async function pool(jobs) {
  const results = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]();
      }
    }),
  );
  return results;
}

async function main() {
  console.log("Instructions per request of an HTTP server, without a manhole and with one idle, evaluating, under top (callgrind)");
  console.log("  await: 20 chained promises awaited per request; stat: one fs.stat; plain: answers at once");
  console.log(machine());
  if (!hasValgrind()) {
    console.log("\nskipped: valgrind is not installed (apt-get install valgrind)");
    return;
  }
  const dir = privateTempDir("mh-bench-request-");
  const rows = [];
  let worst = Number.POSITIVE_INFINITY;
  for (const kind of KINDS) {
    const variants = PLAN[kind].filter((v) => !ONLY || ONLY.includes(v));
    const perSecond = Math.round(await realRate(kind, dir));
    const jobs = [];
    for (let r = 0; r < REPEATS; r++) {
      for (const v of variants) jobs.push({ v, run: () => perRequest(kind, VARIANTS[v], perSecond, dir, `${kind}-${v}-${r}`) });
    }
    const results = await pool(jobs.map((j) => j.run));
    const by = Object.fromEntries(variants.map((v) => [v, results.filter((_, i) => jobs[i].v === v)]));
    const mean = (v, field = "perRequest") => by[v].reduce((a, b) => a + b[field], 0) / by[v].length;
    for (const v of variants) {
      const ratio = mean("none") / mean(v);
      const { label, target, unsettled } = VARIANTS[v];
      if (target && !unsettled) worst = Math.min(worst, ratio / target);
      record(`${kind}.${v}.ratio`, Number(ratio.toFixed(4)));
      const mainRatio = mean("none", "main") / mean(v, "main");
      record(`${kind}.${v}.mainRatio`, Number(mainRatio.toFixed(4)));
      const unsteady = by[v].filter((x) => !x.steady).length;
      rows.push([
        `${kind}: ${label}`,
        mean(v).toFixed(0),
        by[v].map((x) => x.perRequest.toFixed(0)).join(" "),
        (by[v].reduce((a, b) => a + b.perSecondIdle, 0) / by[v].length / 1e6).toFixed(2),
        ratio.toFixed(3),
        // The main thread alone: what its own clock work costs in a busy loop lies between these.
        unsettled ? `${mean(v, "mainLow").toFixed(0)}-${mean(v, "main").toFixed(0)}` : mean(v, "main").toFixed(0),
        mainRatio.toFixed(3),
        !target ? "" : unsettled ? "unsettled" : `>= ${target}`,
        unsteady ? `${unsteady} not steady` : "",
        v === "none" ? `${perSecond} req/s` : by[v].map((x) => x.work).join(" "),
      ]);
    }
  }
  console.log(
    `\nrequests counted in windows of ${WINDOW} after ${WARMUP} of warm-up, until ${WINDOWS} in a row agree within ${STEADY_WITHIN * 100}% (the median of those), ${CONNECTIONS} connection(s) (autocannon); ${REPEATS} runs of each; Node --single-threaded under callgrind, every thread counted\n`,
  );
  table(
    [
      "server",
      "instr/request",
      "by run",
      "clock M instr/s",
      "ratio",
      "main thread",
      "ratio",
      "target",
      "steady",
      "work (none: real req/s)",
    ],
    rows,
  );
  console.log(
    "\ninstr/request: the requests' own count plus the clock-driven work (heartbeat, evaluations, samples; counted alone, clock M instr/s) spread over one second of the real server's requests",
  );
  console.log(
    "ratio: instructions per request without a manhole / with it; main thread: its own count per request, with its clock work (unsettled rows: without it - with it); work: evaluations or top samples while counted",
  );
  console.log(`worst ratio against its target: ${worst.toFixed(3)} (1.000 or more: every target met; the unsettled rows apart)`);
  record("worstAgainstTarget", Number(worst.toFixed(4)));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
