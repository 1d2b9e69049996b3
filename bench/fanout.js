// Fan-out: `manhole exec --all` one process at a time (--parallel 1) against 8 at a time
// (--parallel 8, the default), over 20 local processes, and, where sshd can run (root, OpenSSH
// installed), over 4 ssh targets × 5 processes through a throwaway sshd on the loopback
// (scripts/sshd.mjs, the remote tests' own; each "host" an address of 127/8 with a runtime
// directory of its own). Each figure is the wall time of the whole command as the operator sees
// it (the CLI's start included); the two settings alternate (A/B/A/B) so that a change in the
// machine's load falls on both. Three inputs: `process.pid` (answered at once: the connections
// and the CLI's start are all there is), and ones that await 100 ms and 500 ms, as a query of
// the app's own would. For the local rows, the cost both settings pay (the CLI's start and the
// discovery of every socket: `exec --all --app` matching none) is measured too, and the ratio
// given without it. Target: --parallel 8 at least 4× faster than --parallel 1 over the 20
// local processes, for the inputs that await.
//
//   node bench/fanout.js     (after `npm run build`)
//   BENCH_ROUNDS=5 BENCH_PROCESSES=20 BENCH_SSH=0 node bench/fanout.js
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { ROOT, privateTempDir, startChild, stopChild, median, table, record, machine } = require("./lib.js");

const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const PROCESSES = Number(process.env.BENCH_PROCESSES || 20);
const SSH_TARGETS = 4;
const PER_TARGET = 5;
const CLI = path.join(ROOT, "dist", "cli", "main.js");
const APP = path.join(__dirname, "servers", "manhole.js");
const TARGET = 4;

const INPUTS = [
  { label: "process.pid (at once)", code: "process.pid", target: false },
  { label: "awaits 100 ms", code: "await new Promise((r) => setTimeout(r, 100)); process.pid", target: true },
  { label: "awaits 500 ms", code: "await new Promise((r) => setTimeout(r, 500)); process.pid", target: true },
].map((i) => ({ ...i, check: (o) => o.value === o.pid }));

/**
 * `manhole exec --all --json ...args code` with `env`; resolves to { ms, wrong } where wrong
 * lists the rows that did not answer right (a process whose discovery probe timed out on a loaded
 * machine, say: counted and shown, not hidden). Rejects when the command printed no JSON.
 */
function execAll(args, input, env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [CLI, "exec", "--all", "--json", ...args, input.code], {
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("exit", (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      let out;
      try {
        out = JSON.parse(stdout);
      } catch {
        return reject(new Error(`exec --all ${args.join(" ")}: exit ${code}, no JSON: ${stderr}`));
      }
      resolve({ ms, rows: out.length, wrong: out.filter((o) => !o.ok || !input.check(o)).map((o) => `${o.tag ?? o.pid}: ${o.text}`) });
    });
  });
}

/**
 * A/B/A/B: ROUNDS runs of each setting, alternating, after one warm-up run (page cache, ssh's
 * first handshake); the median wall time of each, and how many rows of all its runs were wrong.
 */
async function compare(args, input, env, expected) {
  const times = { 1: [], 8: [] };
  const wrong = { 1: 0, 8: 0 };
  await execAll([...args, "--parallel", "8"], input, env);
  for (let round = 0; round < ROUNDS; round++) {
    for (const parallel of [1, 8]) {
      const r = await execAll([...args, "--parallel", String(parallel)], input, env);
      times[parallel].push(r.ms);
      wrong[parallel] += r.wrong.length + Math.max(0, expected - r.rows);
      for (const w of r.wrong) console.log(`  (--parallel ${parallel}, ${input.label}) ${w}`);
    }
  }
  return { seq: median(times[1]), par: median(times[8]), wrong: wrong[1] + wrong[8], of: 2 * ROUNDS * expected };
}

/** A row of the table; `fixed`: the cost both settings pay (the CLI's start, the discovery), for the ratio of the fan-out alone. */
function row(where, input, n, { seq, par, wrong, of }, fixed) {
  const ratio = seq / par;
  // Undefined where the fan-out is lost in the noise of the fixed cost (under 50 ms of it).
  const phase = fixed === undefined || par - fixed < 50 ? undefined : (seq - fixed) / (par - fixed);
  return {
    ratio,
    phase,
    cells: [
      where,
      input.label,
      String(n),
      `${seq.toFixed(0)} ms`,
      `${par.toFixed(0)} ms`,
      `${((n / seq) * 1000).toFixed(1)}`,
      `${((n / par) * 1000).toFixed(1)}`,
      `${ratio.toFixed(1)}x`,
      phase === undefined ? "-" : `${phase.toFixed(1)}x`,
      `${of - wrong}/${of}`,
    ],
  };
}

const HEADER = [
  "targets",
  "input",
  "evals",
  "--parallel 1",
  "--parallel 8",
  "evals/s (1)",
  "evals/s (8)",
  "ratio",
  "ratio less start",
  "rows right",
];

async function startApps(dir, n) {
  const apps = [];
  // A few at a time: 20 Node processes starting at once on a small machine time out.
  for (let i = 0; i < n; i += 4) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(4, n - i) }, () => startChild(APP, [], { env: { MANHOLE_DIR: dir }, timeoutMs: 60_000 })),
    );
    apps.push(...batch.map((b) => b.child));
  }
  return apps;
}

/** The wall time of `exec --all` that evaluates nowhere (--app matches none): the CLI's start and the discovery of every socket. */
function fixedCost(env) {
  const times = [];
  const once = () =>
    new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const child = spawn(process.execPath, [CLI, "exec", "--all", "--app", "no-such-app", "1"], {
        env: { ...process.env, ...env },
        stdio: "ignore",
      });
      child.on("exit", () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
    });
  return (async () => {
    for (let i = 0; i < ROUNDS; i++) times.push(await once());
    return median(times);
  })();
}

async function local(rows) {
  const dir = privateTempDir("manhole-bench-fanout-");
  const apps = await startApps(dir, PROCESSES);
  try {
    const env = { MANHOLE_DIR: dir };
    const fixed = await fixedCost(env);
    record("local: CLI start and discovery, ms", Math.round(fixed));
    console.log(`CLI start and discovery of the ${PROCESSES} sockets (exec --all --app matching none): ${fixed.toFixed(0)} ms, median`);
    for (const input of INPUTS) {
      const r = row(`${PROCESSES} local processes`, input, PROCESSES, await compare([], input, env, PROCESSES), fixed);
      rows.push(r.cells);
      record(`local ${input.label}: ratio`, Number(r.ratio.toFixed(2)));
      if (r.phase !== undefined) record(`local ${input.label}: ratio less the CLI's start and discovery`, Number(r.phase.toFixed(2)));
      if (input.target) {
        record(`local ${input.label}: target >= ${TARGET}x`, r.ratio >= TARGET ? "met" : "missed");
        r.cells[7] += r.ratio >= TARGET ? " MET" : " MISSED";
      }
    }
  } finally {
    await Promise.all(apps.map(stopChild));
  }
}

/** Why the ssh part cannot run here, or undefined. */
async function sshSkipReason() {
  if (process.getuid?.() !== 0) return "not root (sshd needs /run/sshd and to switch to the login user)";
  if (process.env.BENCH_SSH === "0") return "BENCH_SSH=0";
  const { tool, toolProblem } = await import("../scripts/test-tools.mjs");
  for (const command of ["sshd", "ssh"]) {
    const problem = toolProblem(tool(command));
    if (problem) return `${command} ${problem}`;
  }
  return undefined;
}

async function overSsh(rows) {
  const why = await sshSkipReason();
  if (why) {
    console.log(`\n(ssh part skipped: ${why})`);
    record("ssh", `skipped: ${why}`);
    return;
  }
  const { startSshd } = await import("../scripts/sshd.mjs");
  const addresses = Array.from({ length: SSH_TARGETS }, (_, i) => `127.0.0.${i + 1}`);
  const sshd = await startSshd({ addresses });
  const base = privateTempDir("manhole-bench-fanout-ssh-");
  const apps = [];
  try {
    // Each "host" has its own runtime directory, named by the address the connection came to.
    for (const a of addresses) {
      const dir = path.join(base, a);
      fs.mkdirSync(dir, { mode: 0o700 });
      apps.push(...(await startApps(dir, PER_TARGET)));
    }
    const env = {
      MANHOLE_SSH: sshd.ssh,
      MANHOLE_REMOTE: `MANHOLE_DIR=${base}/$(set -- $SSH_CONNECTION; echo $3) ${process.execPath} ${CLI}`,
    };
    const hosts = addresses.map((a) => `root@${a}:${sshd.port}`).join(",");
    const n = SSH_TARGETS * PER_TARGET;
    for (const input of INPUTS) {
      const r = row(`${SSH_TARGETS} ssh targets x ${PER_TARGET}`, input, n, await compare(["--ssh", hosts], input, env, n));
      rows.push(r.cells);
      record(`ssh ${input.label}: ratio`, Number(r.ratio.toFixed(2)));
    }
  } finally {
    await Promise.all(apps.map(stopChild));
    await sshd.stop();
  }
}

async function main() {
  console.log(`exec --all fan-out, --parallel 1 against 8 (${machine()})`);
  console.log(`${ROUNDS} rounds of each, alternating; medians; wall time of the whole command, the CLI's start included\n`);
  const rows = [];
  await local(rows);
  await overSsh(rows);
  table(HEADER, rows);
  console.log(
    `\nload average after: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
