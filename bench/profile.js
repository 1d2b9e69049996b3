// What .profile and .heap cost the app: its HTTP throughput (autocannon, requests/s, an
// await-heavy handler) while a CPU profile runs vs. without; after profiles have ended vs. in a
// process never profiled (target >= 0.99: nothing is left enabled), and after a .pause (at a
// breakpoint in a request's frame) and .resume vs. a process never paused (the same target: the
// Debugger is off again); and how long a heap snapshot
// freezes the app per 100 MB of heap (as the snapshot's own time, and as the longest pause of a
// 10 ms timer in the app). Runs are interleaved (A/B, B/A, ...) so that a noisy neighbour on a
// shared machine hurts both sides alike; a ratio is the median of each round's B/A.
//
//   node bench/profile.js          (after `npm run build`)
//   BENCH_ROUNDS=4 BENCH_SECONDS=3 BENCH_CONNECTIONS=20 BENCH_HEAP_ITEMS=500000 node bench/profile.js
"use strict";
const path = require("node:path");
const { alternate, privateTempDir, startChild, cleanup, median, table, machine, requestsPerSecond } = require("./lib.js");
const { ManholeClient } = require("../dist/cli/client.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 4);
const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 20);
const HEAP_ITEMS = Number(process.env.BENCH_HEAP_ITEMS || 500_000);
const AFTER_TARGET = 0.99;
const APP = path.join(__dirname, "servers", "await-app.js");
/** The line of await-app.js's request handler that `.pause --at` stops on. */
const HANDLER_LINE = 17;
const MB = 1024 * 1024;

const load = (port, seconds = SECONDS) => requestsPerSecond(port, { connections: CONNECTIONS, seconds });

/** Runs a command; artifact frames are dropped as they come (only their count is kept). */
async function command(socket, name, args) {
  const client = await ManholeClient.connect(socket);
  try {
    let frames = 0;
    const r = await client.command(name, args, undefined, () => frames++);
    if (!r.ok) throw new Error(r.text);
    return { ...r, frames };
  } finally {
    client.close();
  }
}

/** `.pause --at` the await app's request handler, one request to hit it, `.resume`: the Debugger is on and off again. */
async function pauseOnce(app) {
  const client = await ManholeClient.connect(app.socket);
  try {
    const stopped = client.command("pause", { at: `${path.basename(APP)}:${HANDLER_LINE}`, seconds: "10s" });
    await new Promise((r) => setTimeout(r, 100));
    const request = fetch(`http://127.0.0.1:${app.port}/paused`).then((res) => res.text());
    const r = await stopped;
    if (!r.json?.paused) throw new Error(`.pause --at did not stop: ${r.text}`);
    await client.command("resume");
    await request;
  } finally {
    client.close();
  }
}

async function evalNumber(socket, code) {
  const client = await ManholeClient.connect(socket);
  try {
    const r = await client.eval(code);
    if (!r.ok) throw new Error(r.text);
    return Number(r.text);
  } finally {
    client.close();
  }
}

async function main() {
  const dir = privateTempDir("mh-bench-profile-");
  const env = { MANHOLE_DIR: dir };
  const a = (await startChild(APP, [], { env })).first;
  const b = (await startChild(APP, [], { env })).first;
  await load(a.port, 1);
  await load(b.port, 1);

  // During: the same process, alternately with and without a profile running through the load.
  const during = { without: [], with: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const withProfile = async () => {
      const profiling = command(a.socket, "profile", { seconds: `${SECONDS + 1}s` });
      during.with.push(await load(a.port));
      await profiling;
    };
    const withoutProfile = async () => during.without.push(await load(a.port));
    await alternate(round, withoutProfile, withProfile);
  }

  // After: process b has just ended a profile before each of its runs; process c never had one.
  const c = (await startChild(APP, [], { env })).first;
  await load(c.port, 1);
  const after = { never: [], profiled: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const profiled = async () => {
      await command(b.socket, "profile", { seconds: "1s" });
      after.profiled.push(await load(b.port));
    };
    const never = async () => after.never.push(await load(c.port));
    await alternate(round, never, profiled);
  }

  // After a pause: process d is stopped in a request's frame (.pause --at the handler's line, hit
  // by one request), then resumed, before each of its runs; c never was.
  const d = (await startChild(APP, [], { env })).first;
  await load(d.port, 1);
  const paused = { never: [], paused: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const wasPaused = async () => {
      await pauseOnce(d);
      paused.paused.push(await load(d.port));
    };
    const never = async () => paused.never.push(await load(c.port));
    await alternate(round, never, wasPaused);
  }

  // The snapshot's pause: a heap grown to about 100 MB, one snapshot streamed (and dropped).
  await evalNumber(c.socket, `app.grow(${HEAP_ITEMS})`);
  await evalNumber(c.socket, "app.resetLag()");
  const heapUsed = await evalNumber(c.socket, "app.heapUsed()");
  const snap = await command(c.socket, "heap", { yes: true });
  const lagMs = await evalNumber(c.socket, "app.lag()");
  const per100 = (ms) => ms / (heapUsed / (100 * MB));

  const ratio = (x, y) => median(x.map((v, i) => v / y[i]));
  const fmt = (v) => Math.round(v).toString();
  console.log("What .profile and .heap cost an await-heavy HTTP app (autocannon, requests/s: medians; B/A: median of each round's ratio)");
  console.log(machine());
  console.log(`${ROUNDS} rounds of ${SECONDS} s runs per side, ${CONNECTIONS} connections; profiles at the default 1 ms sampling\n`);
  table(
    ["row", "A", "B", "B/A", "target"],
    [
      [
        "HTTP req/s while a profile runs (B) vs. none (A)",
        fmt(median(during.without)),
        fmt(median(during.with)),
        ratio(during.with, during.without).toFixed(3),
        "(cost, said at start)",
      ],
      [
        "HTTP req/s after a profile ended (B) vs. a process never profiled (A)",
        fmt(median(after.never)),
        fmt(median(after.profiled)),
        ratio(after.profiled, after.never).toFixed(3),
        `>= ${AFTER_TARGET}`,
      ],
      [
        "HTTP req/s after a .pause and .resume (B) vs. a process never paused (A)",
        fmt(median(paused.never)),
        fmt(median(paused.paused)),
        ratio(paused.paused, paused.never).toFixed(3),
        `>= ${AFTER_TARGET}`,
      ],
    ],
  );
  console.log("");
  table(
    ["heap snapshot", "heap used", "file", "frozen (snapshot)", "longest 10 ms-timer pause", "per 100 MB of heap"],
    [
      [
        "streamed, dropped by the client",
        `${(heapUsed / MB).toFixed(0)} MB`,
        `${(snap.json.artifact.size / MB).toFixed(0)} MB`,
        `${(snap.json.frozenMs / 1000).toFixed(1)} s`,
        `${(lagMs / 1000).toFixed(1)} s`,
        `${(per100(snap.json.frozenMs) / 1000).toFixed(1)} s (timer: ${(per100(lagMs) / 1000).toFixed(1)} s)`,
      ],
    ],
  );
  console.log(`\nruns (req/s): during A ${during.without.map(fmt).join(" ")} | B ${during.with.map(fmt).join(" ")}`);
  console.log(`              after A ${after.never.map(fmt).join(" ")} | B ${after.profiled.map(fmt).join(" ")}`);
  console.log(`              paused A ${paused.never.map(fmt).join(" ")} | B ${paused.paused.map(fmt).join(" ")}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
