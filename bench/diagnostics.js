// What the live diagnostics cost the app: its HTTP throughput (autocannon, requests/s) with
// `manhole top` attached vs. not, and with .requests' diagnostics_channel subscriptions left on
// vs. never made. Runs are short and interleaved (A/B, B/A, ...), so that a noisy neighbour on a
// shared machine hurts both sides alike; the ratio is the median of each round's B/A.
// Then, on Linux, what an idle app's main thread spends (CPU ms per second, from
// /proc/<pid>/task/<pid>/stat) with no session, with one idle session, and with top attached:
// a saturated server pays about the same milliseconds, so their share of a core is top's cost.
//
//   node bench/diagnostics.js          (after `npm run build`)
//   BENCH_ROUNDS=4 BENCH_SECONDS=3 BENCH_CONNECTIONS=20 BENCH_IDLE_SECONDS=10 node bench/diagnostics.js
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { alternate, privateTempDir, startChild, cleanup, median, table, machine, requestsPerSecond } = require("./lib.js");
const { ManholeClient } = require("../dist/cli/client.js");
const { sampleOnce } = require("../dist/cli/top.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 6);
const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 20);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS || 10);
const TOP_TARGET = 0.97;
const CHANNELS_TARGET = 0.99;
const APP = path.join(__dirname, "servers", "http-app.js");

const load = (port, seconds = SECONDS) => requestsPerSecond(port, { connections: CONNECTIONS, seconds });

/** `manhole top`'s sampling (the dashboard's requests, one session) until stopped. */
async function attachTop(socket) {
  const client = await ManholeClient.connect(socket);
  let running = true;
  let samples = 0;
  const done = (async () => {
    let last;
    while (running) {
      const began = Date.now();
      last = await sampleOnce(client, "bench", last);
      samples++;
      const rest = 1000 - (Date.now() - began);
      if (rest > 0 && running) await new Promise((r) => setTimeout(r, rest));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      client.close();
      return samples;
    },
  };
}

/** CPU time (ms) the main thread of process `pid` has used, or undefined where /proc is absent. */
function mainThreadCpuMs(pid) {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    const stat = fs.readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Main-thread CPU ms per second of an idle app: nothing attached, one idle session, top attached (interleaved). */
async function idleCosts(dir) {
  const { child, first } = await startChild(APP, ["plain"], { env: { MANHOLE_DIR: dir } });
  if (mainThreadCpuMs(child.pid) === undefined) return null;
  const socket = first.socket;
  const sides = { none: [], session: [], top: [] };
  const measure = async () => {
    const before = mainThreadCpuMs(child.pid);
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    return (mainThreadCpuMs(child.pid) - before) / IDLE_SECONDS;
  };
  for (let round = 0; round < 2; round++) {
    sides.none.push(await measure());
    const client = await ManholeClient.connect(socket);
    await new Promise((r) => setTimeout(r, 500)); // the heartbeat quickens within 250 ms
    sides.session.push(await measure());
    client.close();
    const top = await attachTop(socket);
    sides.top.push(await measure());
    await top.stop();
  }
  return sides;
}

async function main() {
  const dir = privateTempDir("mh-bench-diag-");
  const env = { MANHOLE_DIR: dir };
  const plain = (await startChild(APP, ["plain"], { env })).first;
  const subscribed = (await startChild(APP, ["requests"], { env })).first;
  // Warm up both apps (JIT, connection pools).
  await load(plain.port, 1);
  await load(subscribed.port, 1);

  const top = { without: [], with: [], samples: 0 };
  const channels = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // top: the same process, alternately without and with the sampler attached.
    const withTop = async () => {
      const attached = await attachTop(plain.socket);
      top.with.push(await load(plain.port));
      top.samples += await attached.stop();
    };
    const withoutTop = async () => top.without.push(await load(plain.port));
    await alternate(round, withoutTop, withTop);
    // diagnostics_channel: two processes, one subscribed, alternately.
    await alternate(
      round,
      async () => channels.off.push(await load(plain.port)),
      async () => channels.on.push(await load(subscribed.port)),
    );
  }
  const ratio = (b, a) => median(b.map((v, i) => v / a[i]));
  const topRatio = ratio(top.with, top.without);
  const channelRatio = ratio(channels.on, channels.off);
  const fmt = (v) => Math.round(v).toString();
  console.log("HTTP throughput of an app with a manhole (autocannon, requests/s: medians; B/A: median of each round's ratio)");
  console.log(machine());
  console.log(`${ROUNDS} rounds of ${SECONDS} s runs per side, ${CONNECTIONS} connections\n`);
  table(
    ["row", "A req/s", "B req/s", "B/A", "target"],
    [
      [
        `manhole top attached (B; ${top.samples} samples) vs. not (A)`,
        fmt(median(top.without)),
        fmt(median(top.with)),
        topRatio.toFixed(3),
        `>= ${TOP_TARGET}`,
      ],
      [
        "diagnostics_channel subscriptions of .requests on (B) vs. never made (A)",
        fmt(median(channels.off)),
        fmt(median(channels.on)),
        channelRatio.toFixed(3),
        `>= ${CHANNELS_TARGET}`,
      ],
    ],
  );
  console.log(`\nruns (req/s): top A ${top.without.map(fmt).join(" ")} | B ${top.with.map(fmt).join(" ")}`);
  console.log(`              channels A ${channels.off.map(fmt).join(" ")} | B ${channels.on.map(fmt).join(" ")}`);

  const idle = await idleCosts(dir);
  if (!idle) {
    console.log("\nidle costs: skipped (no /proc/<pid>/task/<pid>/stat here)");
    return;
  }
  const ms = (xs) => xs.map((x) => x.toFixed(1)).join(" ");
  console.log(`\nAn idle app's main thread, CPU ms per second (2 interleaved rounds of ${IDLE_SECONDS} s; 10 ms clock ticks)`);
  const cores = os.cpus().length;
  table(
    ["attached", "CPU ms/s by round", "share of a core"],
    [
      ["nothing", ms(idle.none), `${(median(idle.none) / 10).toFixed(2)}%`],
      ["one idle session", ms(idle.session), `${(median(idle.session) / 10).toFixed(2)}%`],
      ["manhole top", ms(idle.top), `${(median(idle.top) / 10).toFixed(2)}%`],
    ],
  );
  console.log(`(of ${cores} CPU(s); a saturated server pays about as many ms for the same work: top's throughput cost is about its share)`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
