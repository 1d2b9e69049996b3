// `npm run bench`: every part of the benchmark suite, one after the other, each in its own
// process (its tables printed as it goes), then every figure as JSON in
// bench/results/<date>-<node>.json so that runs can be compared. Each part also runs alone:
// `node bench/<part>.js`, or `node bench/run.js <part> [<part>...]`.
//
//   npm run bench                          (builds first)
//   node bench/run.js round-trip memory    (after `npm run build`)
//   BENCH_RESULTS_DIR=/tmp/results node bench/run.js
"use strict";
const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { machine, machineInfo } = require("./lib.js");

/** In this order: the cheap and the headline parts first. */
const PARTS = [
  "round-trip",
  "memory",
  "auto-start",
  "host-overhead",
  "containment-overhead",
  "await-cost",
  "request-cost",
  "diagnostics",
  "blocked-loop",
  "watch",
  "typescript",
  "profile",
  "attach",
  "concurrency",
  "fanout",
  "big-output",
  "soak",
];

function main() {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((p) => !PARTS.includes(p));
  if (unknown.length) {
    console.error(`unknown part(s): ${unknown.join(", ")}; the parts are: ${PARTS.join(", ")}`);
    return 2;
  }
  const parts = asked.length ? asked : PARTS;
  const before = machineInfo();
  console.log(`manhole benchmarks: ${parts.join(", ")}`);
  console.log(`${machine()}\n`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "manhole-bench-results-"));
  const results = { date: new Date().toISOString(), machine: before, parts: {} };
  let failed = 0;
  for (const part of parts) {
    console.log(`\n==================== ${part} ====================\n`);
    const file = path.join(scratch, `${part}.jsonl`);
    const started = process.hrtime.bigint();
    const run = spawnSync(process.execPath, [path.join(__dirname, `${part}.js`)], {
      stdio: "inherit",
      env: { ...process.env, BENCH_RESULTS: file },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const lines = fs.existsSync(file)
      ? fs
          .readFileSync(file, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
    const exitCode = run.status ?? 128;
    if (exitCode !== 0) failed++;
    results.parts[part] = {
      exitCode,
      seconds: Number(seconds.toFixed(1)),
      tables: lines.filter((l) => l.kind === "table").map(({ header, rows }) => ({ header, rows })),
      figures: Object.fromEntries(lines.filter((l) => l.kind === "figure").map(({ name, value }) => [name, value])),
    };
  }
  results.loadAverageAfter = os.loadavg().map((l) => Number(l.toFixed(2)));
  fs.rmSync(scratch, { recursive: true, force: true });

  const dir = process.env.BENCH_RESULTS_DIR || path.join(__dirname, "results");
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `${results.date.slice(0, 10)}-node${process.versions.node}.json`);
  fs.writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nload average before ${before.loadAverage.join(" ")}, after ${results.loadAverageAfter.join(" ")}`);
  console.log(`figures written to ${path.relative(process.cwd(), out) || out}`);
  if (failed) console.log(`${failed} part(s) failed: see above`);
  return failed ? 1 : 0;
}

process.exitCode = main();
