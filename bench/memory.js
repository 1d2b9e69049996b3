// Memory and start-up cost of a manhole in a small app (an HTTP server and a timer), each
// variant in its own child process run with --expose-gc, several times, interleaved:
// no manhole / manhole threaded:false / manhole threaded. Medians are reported.
//
//   node bench/memory.js                 (after `npm run build`)
//   BENCH_REPS=9 BENCH_SETTLE_MS=1000 node bench/memory.js
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { AGENT, privateTempDir, startChild, stopChild, cleanup, median, table, machine } = require("./lib.js");

const REPS = Number(process.env.BENCH_REPS || 5);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS || 1000);
const TARGET_RSS_MB = 12;
const TARGET_START_MS = 30;
/** What an app pays for importing manhole without starting one. */
const TARGET_IMPORT_MB = 1.5;
const TARGET_IMPORT_MS = 3;

const APP = path.join(__dirname, "servers", "app.js");
const MODES = [
  { key: "none", label: "no manhole" },
  { key: "import", label: 'require("manhole") only' },
  { key: "inline", label: "manhole threaded:false" },
  { key: "threaded", label: "manhole threaded" },
  { key: "worker", label: "(ref.) empty Worker, no manhole" },
];
const MB = 2 ** 20;

async function main() {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: run \`npm run build\` first`);
  for (const m of MODES) m.runs = [];
  for (let r = 0; r < REPS; r++) {
    for (let k = 0; k < MODES.length; k++) {
      const m = MODES[(k + r) % MODES.length];
      const dir = privateTempDir("manhole-bench-mem-");
      const { child, first } = await startChild(APP, [m.key, String(SETTLE_MS)], {
        nodeArgs: ["--expose-gc"],
        env: { MANHOLE_DIR: dir },
      });
      if (m.key === "inline" || m.key === "threaded") {
        if (first.threaded !== (m.key === "threaded")) throw new Error(`${m.label}: handle.threaded is ${first.threaded}`);
        if (path.dirname(first.socket) !== fs.realpathSync(dir) && path.dirname(first.socket) !== dir) {
          throw new Error(`${m.label}: socket ${first.socket} is not in MANHOLE_DIR ${dir}`);
        }
        if (!fs.statSync(first.socket).isSocket()) throw new Error(`${m.label}: ${first.socket} is not a socket`);
      }
      await stopChild(child);
      // Start-up is timed in a second child without --expose-gc: that flag keeps V8 from using
      // its startup snapshot for the worker's isolate and adds ~15 ms to any Worker's start.
      const timed = await startChild(APP, [m.key, "0"], { nodeArgs: [], env: { MANHOLE_DIR: privateTempDir("manhole-bench-mem-") } });
      m.runs.push({ ...first, requireMs: timed.first.requireMs, startMs: timed.first.startMs });
      await stopChild(timed.child);
    }
  }

  for (const m of MODES) {
    for (const f of ["rss", "heapUsed", "requireMs", "startMs"]) m[f] = median(m.runs.map((x) => x[f]));
  }
  const [none, imported, inline, threaded, worker] = MODES;
  const mb = (b) => (b / MB).toFixed(1);
  const plusMb = (b) => `${b >= 0 ? "+" : ""}${(b / MB).toFixed(1)}`;
  const ms = (x) => x.toFixed(1);
  const x = (a, b) => `${(a / b).toFixed(2)}×`;

  console.log("Memory and start-up of a small app (http server + timer) with and without a manhole");
  console.log(machine());
  console.log(
    `medians of ${REPS} child processes per variant (node --expose-gc), measured ${SETTLE_MS} ms after start-up, after gc() twice;\n` +
      "start-up = `await startManhole()` alone (or the empty Worker until its first message), timed inside a child run without --expose-gc\n",
  );
  table(
    ["variant", "RSS MB", "+RSS MB", "RSS ratio", "heap used MB", "+heap MB", "heap ratio", "start-up ms", "require ms"],
    MODES.map((m) => [
      m.label,
      mb(m.rss),
      m === none ? "–" : plusMb(m.rss - none.rss),
      x(m.rss, none.rss),
      mb(m.heapUsed),
      m === none ? "–" : plusMb(m.heapUsed - none.heapUsed),
      x(m.heapUsed, none.heapUsed),
      m === none || m === imported ? "–" : ms(m.startMs),
      m === none || m.key === "worker" ? "–" : ms(m.requireMs),
    ]),
  );
  console.log("(heap used is the main thread's heap only; the worker's heap shows in RSS)");
  console.log(
    `(the reference row spawns an empty worker_threads Worker and waits for its first message: ${ms(worker.startMs)} ms and` +
      ` ${plusMb(worker.rss - none.rss)} MB RSS here, a floor for any worker-based threaded mode)`,
  );

  const dImport = imported.rss - none.rss;
  console.log("\nimport alone vs no manhole:");
  console.log(
    `  RSS       ${plusMb(dImport)} MB  (target: at most +${TARGET_IMPORT_MB} MB)  -> ${dImport <= TARGET_IMPORT_MB * MB ? "MET" : "NOT MET"}`,
  );
  console.log(
    `  require   ${ms(imported.requireMs)} ms  (target: at most ${TARGET_IMPORT_MS} ms)  -> ${imported.requireMs <= TARGET_IMPORT_MS ? "MET" : "NOT MET"}`,
  );

  const dRss = threaded.rss - inline.rss;
  const dStart = threaded.startMs - inline.startMs;
  console.log(`\nthreaded vs threaded:false:`);
  console.log(
    `  RSS       ${plusMb(dRss)} MB  (target: at most +${TARGET_RSS_MB} MB)  -> ${dRss <= TARGET_RSS_MB * MB ? "MET" : "NOT MET"}`,
  );
  console.log(
    `  start-up  ${dStart >= 0 ? "+" : ""}${ms(dStart)} ms  (target: at most +${TARGET_START_MS} ms) -> ${dStart <= TARGET_START_MS ? "MET" : "NOT MET"}`,
  );
  const spread = (m, f, scale) => {
    const v = m.runs.map((r) => r[f] / scale);
    return `${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}`;
  };
  console.log(
    `  (ranges over runs: RSS threaded ${spread(threaded, "rss", MB)} MB, threaded:false ${spread(inline, "rss", MB)} MB;` +
      ` startManhole threaded ${spread(threaded, "startMs", 1)} ms, threaded:false ${spread(inline, "startMs", 1)} ms)`,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
