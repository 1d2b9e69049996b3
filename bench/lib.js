// Helpers shared by the benchmarks: a private temp dir, child processes that announce
// readiness on stdout, and cleanup. Plain CommonJS, no dependencies.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
const AGENT = path.join(ROOT, "dist", "agent", "index.js");

const children = new Set();
const dirs = new Set();

/** A fresh 0700 temp dir (mkdtemp creates it 0700), removed by cleanup(). */
function privateTempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  dirs.add(dir);
  return dir;
}

/**
 * Spawns `node [nodeArgs] file [args]` (or `command` instead of node). The child writes one JSON line to stdout when ready
 * (and possibly more lines later); resolves to { child, first } with the first message.
 * Children exit when their stdin ends, so they never outlive the benchmark.
 */
function startChild(file, args = [], { nodeArgs = [], env = {}, timeoutMs = 15000, command = process.execPath } = {}) {
  const child = spawn(command, [...nodeArgs, file, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  child.stdin.on("error", () => {});
  const messages = [];
  const waiters = [];
  let buf = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (d) => {
    buf += d;
    let nl = buf.indexOf("\n");
    while (nl !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      let msg;
      try {
        msg = JSON.parse(line);
      } catch {
        continue; // not ours
      }
      const w = waiters.shift();
      if (w) w.resolve(msg);
      else messages.push(msg);
    }
  });
  const next = () =>
    new Promise((resolve, reject) => {
      if (messages.length) return resolve(messages.shift());
      const timer = setTimeout(
        () => reject(new Error(`${path.basename(file)} ${args.join(" ")}: no message within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onExit = (code) => reject(new Error(`${path.basename(file)} ${args.join(" ")} exited (${code})`));
      child.once("exit", onExit);
      waiters.push({
        resolve: (m) => {
          clearTimeout(timer);
          child.off("exit", onExit);
          resolve(m);
        },
      });
    });
  return next().then((first) => ({ child, first, next }));
}

function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdin.end();
  });
}

async function cleanup() {
  await Promise.all([...children].map(stopChild));
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function cleanupSync() {
  for (const child of children) child.kill("SIGKILL");
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanupSync);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    cleanupSync();
    process.exit(130);
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Figures for `npm run bench` (bench/run.js): with BENCH_RESULTS set, every table printed and
 * every figure recorded is appended to that file as one JSON line, tagged with this script's name.
 */
const PART = require.main ? path.basename(require.main.filename, ".js") : "bench";
function recordLine(entry) {
  if (!process.env.BENCH_RESULTS) return;
  fs.appendFileSync(process.env.BENCH_RESULTS, `${JSON.stringify({ part: PART, ...entry })}\n`);
}

/** A named figure (a ratio, a p99, a target met or not) for the JSON results. */
function record(name, value) {
  recordLine({ kind: "figure", name, value });
}

/** Prints rows (arrays of strings) as an aligned table; numbers right-aligned. Recorded for the JSON results. */
function table(header, rows) {
  recordLine({ kind: "table", header: header.map(String), rows: rows.map((r) => r.map(String)) });
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  // Every column but the first is right-aligned (numbers, ratios).
  const fmt = (r) =>
    r
      .map((c, i) => (i > 0 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  const lines = [fmt(all[0]), widths.map((w) => "-".repeat(w)).join("  "), ...all.slice(1).map(fmt)];
  console.log(lines.join("\n"));
}

/** Whether this process (and so its children) may run on fewer CPUs than are online, e.g. under taskset. */
function affinity() {
  try {
    const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(fs.readFileSync("/proc/self/status", "utf8"));
    const online = fs.readFileSync("/sys/devices/system/cpu/online", "utf8").trim();
    if (m && m[1] !== online) return `pinned to CPU ${m[1]} of ${online}`;
  } catch {
    // not Linux
  }
  return "not pinned";
}

/** The machine line's facts, as data. */
function machineInfo() {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0] ? cpus[0].model.trim() : "unknown",
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    os: `${os.platform()} ${os.release()}`,
    node: process.version,
    affinity: affinity(),
    loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

function machine() {
  const cpus = os.cpus();
  return `${cpus.length} CPU(s) (${cpus[0] ? cpus[0].model.trim() : "unknown"}), ${Math.round(os.totalmem() / 2 ** 20)} MiB RAM, ${os.platform()} ${os.release()}, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}, ${affinity()}`;
}

/**
 * One round of an A/B comparison: `a` then `b` in even rounds, `b` then `a` in odd ones
 * (A/B, B/A, ...), so that a noisy neighbour or a warming machine hurts both sides alike.
 */
async function alternate(round, a, b) {
  if (round % 2 === 0) {
    await a();
    await b();
  } else {
    await b();
    await a();
  }
}

/** Whether valgrind (for the callgrind instruction counts) is installed. */
function hasValgrind() {
  const { spawnSync } = require("node:child_process");
  return spawnSync("valgrind", ["--version"], { encoding: "utf8" }).status === 0;
}

/** The instructions a callgrind dump counted (its summary line). */
function callgrindTotal(file) {
  const m = /^(?:summary|totals): (\d+)/m.exec(fs.readFileSync(file, "utf8"));
  if (!m) throw new Error(`${file}: no total in the dump`);
  return Number(m[1]);
}

/** Requests per second of `seconds` of saturating HTTP load on 127.0.0.1:`port` (autocannon, a dev dependency). */
async function requestsPerSecond(port, { connections, seconds }) {
  const autocannon = require("autocannon");
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  return result.requests.average;
}

module.exports = {
  ROOT,
  alternate,
  AGENT,
  privateTempDir,
  startChild,
  stopChild,
  cleanup,
  percentile,
  median,
  table,
  record,
  machine,
  machineInfo,
  requestsPerSecond,
  hasValgrind,
  callgrindTotal,
};
