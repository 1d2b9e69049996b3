// What the live diagnostics cost the app: its HTTP throughput (autocannon, requests/s) with
// `manhole top` attached vs. not, and with .requests' diagnostics_channel subscriptions left on
// vs. never made. Runs are short and interleaved (A/B, B/A, ...), so that a noisy neighbour on a
// shared machine hurts both sides alike; the ratio is the median of each round's B/A.
//
//   node bench/diagnostics.js          (after `npm run build`)
//   BENCH_ROUNDS=4 BENCH_SECONDS=3 BENCH_CONNECTIONS=20 node bench/diagnostics.js
"use strict";
const path = require("node:path");
const { alternate, privateTempDir, startChild, cleanup, median, table, machine, requestsPerSecond } = require("./lib.js");
const { ManholeClient } = require("../dist/cli/client.js");
const { sampleOnce } = require("../dist/cli/top.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 6);
const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 20);
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
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
