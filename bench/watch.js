// What .watch costs: the time of one call of a watched function (every call reported: its
// arguments and value printed, sent to the session) against the same function unwatched, and of
// the pass-through a watch leaves in a reference taken while it ran; then the app's HTTP
// throughput (autocannon) once a watch has ended vs. a twin process never watched (target >= 0.99:
// nothing stays installed, no promise hook left on). Runs are interleaved (A/B, B/A, ...), so that
// a noisy neighbour hurts both sides alike; ratios are medians of each round's B/A.
//
//   node bench/watch.js          (after `npm run build`)
//   BENCH_ROUNDS=4 BENCH_SECONDS=3 BENCH_CONNECTIONS=20 BENCH_CALLS=5000 node bench/watch.js
"use strict";
const http = require("node:http");
const path = require("node:path");
const { alternate, privateTempDir, startChild, cleanup, median, table, machine, requestsPerSecond } = require("./lib.js");
const { ManholeClient } = require("../dist/cli/client.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 6);
const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 20);
const CALLS = Number(process.env.BENCH_CALLS || 5000);
const AFTER_TARGET = 0.99;
const APP = path.join(__dirname, "servers", "watch-app.js");

const autocannonRun = (port, seconds) => requestsPerSecond(port, { connections: CONNECTIONS, seconds });

/**
 * A load run: requests/s, and requests per CPU-second of the app process (its own CPU time,
 * which a busy neighbour on a shared machine disturbs far less than the wall clock).
 */
async function load(port, seconds = SECONDS) {
  const before = JSON.parse(await get(port, "/stats"));
  const rate = await autocannonRun(port, seconds);
  const after = JSON.parse(await get(port, "/stats"));
  return { rate, perCpuSecond: (after.served - before.served) / ((after.cpuMicros - before.cpuMicros) / 1e6) };
}

function get(port, p) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: p, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/** Runs `.watch <expr>` until it ends; `during()` runs once it is installed. Resolves to {summary, events}. */
async function watchWhile(socket, args, during) {
  const client = await ManholeClient.connect(socket);
  let events = 0;
  let installed;
  const started = new Promise((resolve) => {
    installed = resolve;
  });
  const done = client.command("watch", args, undefined, (e) => {
    if (e.event === "watch.start") installed();
    else events++;
  });
  await started;
  const value = await during();
  const r = await done;
  client.close();
  if (!r.ok) throw new Error(r.text);
  return { summary: r.json, events, value };
}

async function main() {
  const dir = privateTempDir("mh-bench-watch-");
  const env = { MANHOLE_DIR: dir };
  const watched = (await startChild(APP, [], { env })).first;
  const never = (await startChild(APP, [], { env })).first;
  // Warm up: JIT, connection pools, the watch's own code.
  await load(watched.port, 1);
  await load(never.port, 1);
  for (let i = 0; i < 3; i++) await get(watched.port, `/calls?n=${CALLS}`);
  await watchWhile(watched.socket, `svc.add --count ${CALLS}`, () => get(watched.port, `/calls?n=${CALLS}`));

  const calls = { plain: [], watched: [], plainHeld: [], passThrough: [], events: 0 };
  const http_ = { never: [], after: [], watchedRequests: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    // Per call: the same loop in the same process, the function watched (every call reported) or not.
    const plain = async () => calls.plain.push(Number(await get(watched.port, `/calls?n=${CALLS}`)));
    const inWatch = async () => {
      const w = await watchWhile(watched.socket, `svc.add --count ${CALLS}`, async () => {
        await get(watched.port, "/hold"); // a reference to the wrapper, kept after the watch
        return Number(await get(watched.port, `/calls?n=${CALLS}`));
      });
      if (w.events !== CALLS || w.summary.calls !== CALLS) throw new Error(`expected ${CALLS} calls, got ${w.events} events`);
      calls.watched.push(w.value);
      calls.events += w.events;
    };
    await alternate(round, plain, inWatch);
    // The pass-through: the reference /hold took during the watch, now that it has ended, vs. the original.
    const held = async () => calls.passThrough.push(Number(await get(watched.port, `/calls?n=${CALLS}&via=held`)));
    const orig = async () => calls.plainHeld.push(Number(await get(watched.port, `/calls?n=${CALLS}`)));
    await alternate(round, orig, held);

    // HTTP: a watch of the async handler runs to its end (100 requests), then the load; the twin never had one.
    const w = await watchWhile(watched.socket, "svc.handle --count 100", async () => {
      for (let i = 0; i < 100; i++) await get(watched.port, `/r${i}`);
    });
    if (w.summary.reason !== "count" || w.summary.restored !== "restored") throw new Error(JSON.stringify(w.summary));
    http_.watchedRequests += w.events;
    await alternate(
      round,
      async () => http_.never.push(await load(never.port)),
      async () => http_.after.push(await load(watched.port)),
    );
  }
  const ratio = (b, a) => median(b.map((v, i) => v / a[i]));
  const ns = (v) => `${v.toFixed(1)} ns`;
  console.log("What .watch costs (per call: mean over a loop of calls in the app; HTTP: autocannon, requests/s)");
  console.log(machine());
  console.log(`${ROUNDS} rounds: ${CALLS} calls per side; ${SECONDS} s HTTP runs per side, ${CONNECTIONS} connections\n`);
  table(
    ["row", "A", "B", "B/A or B-A", "target"],
    [
      [
        `a call of svc.add watched, each reported (B; ${calls.events} events) vs. unwatched (A)`,
        ns(median(calls.plain)),
        ns(median(calls.watched)),
        `+${(median(calls.watched) - median(calls.plain)).toFixed(0)} ns`,
        "-",
      ],
      [
        "a call through the wrapper after its watch ended (B: pass-through) vs. the original (A)",
        ns(median(calls.plainHeld)),
        ns(median(calls.passThrough)),
        `+${(median(calls.passThrough) - median(calls.plainHeld)).toFixed(1)} ns`,
        "-",
      ],
      [
        "HTTP req/s after a watch of the handler ended (B) vs. a twin never watched (A)",
        Math.round(median(http_.never.map((r) => r.rate))),
        Math.round(median(http_.after.map((r) => r.rate))),
        ratio(
          http_.after.map((r) => r.rate),
          http_.never.map((r) => r.rate),
        ).toFixed(3),
        `>= ${AFTER_TARGET}`,
      ],
      [
        "the same, as requests per CPU-second of the app process",
        Math.round(median(http_.never.map((r) => r.perCpuSecond))),
        Math.round(median(http_.after.map((r) => r.perCpuSecond))),
        ratio(
          http_.after.map((r) => r.perCpuSecond),
          http_.never.map((r) => r.perCpuSecond),
        ).toFixed(3),
        `>= ${AFTER_TARGET}`,
      ],
    ],
  );
  const list = (a, f) => a.map(f).join(" ");
  console.log(
    `\nruns: per call plain ${list(calls.plain, (v) => v.toFixed(0))} | watched ${list(calls.watched, (v) => v.toFixed(0))} (ns)`,
  );
  console.log(
    `      pass-through ${list(calls.passThrough, (v) => v.toFixed(1))} | original ${list(calls.plainHeld, (v) => v.toFixed(1))} (ns)`,
  );
  console.log(
    `      HTTP never ${list(http_.never, (r) => Math.round(r.rate))} | after ${list(http_.after, (r) => Math.round(r.rate))} (req/s)`,
  );
  console.log(
    `      HTTP never ${list(http_.never, (r) => Math.round(r.perCpuSecond))} | after ${list(http_.after, (r) => Math.round(r.perCpuSecond))} (req per CPU-s)`,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
