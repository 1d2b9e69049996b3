// What `--import manhole/auto` adds to an app's start-up: an HTTP app that never loads manhole
// (test/fixtures/plain-app.mjs) started plain and with the auto entry, interleaved (A/B, B/A,
// ...), timed from spawn to the app's "LISTENING" line, and, with the entry, to the manhole's
// socket answering a connection. Target: the app's own start at most 30 ms later than plain.
//
//   node bench/auto-start.js          (after `npm run build`)
//   BENCH_REPS=20 node bench/auto-start.js
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { ROOT, privateTempDir, cleanup, median, percentile, table, record, machine } = require("./lib.js");

const REPS = Number(process.env.BENCH_REPS || 12);
const TARGET_MS = 30;
const APP = path.join(ROOT, "test", "fixtures", "plain-app.mjs");
const AUTO = path.join(ROOT, "dist", "agent", "auto.mjs");

/** Resolves once `socketPath` accepts a connection (polled every 2 ms). */
function answers(socketPath) {
  return new Promise((resolve) => {
    const attempt = () => {
      if (!fs.existsSync(socketPath)) return setTimeout(attempt, 2);
      const s = net.createConnection(socketPath);
      s.once("connect", () => {
        s.destroy();
        resolve();
      });
      s.once("error", () => setTimeout(attempt, 2));
    };
    attempt();
  });
}

/** One start: ms to "LISTENING", and (with the auto entry) ms to a socket that answers. */
function start(withAuto) {
  const dir = privateTempDir("mh-auto-");
  const socketPath = path.join(dir, "app.sock");
  const began = process.hrtime.bigint();
  const ms = () => Number(process.hrtime.bigint() - began) / 1e6;
  const child = spawn(process.execPath, [...(withAuto ? ["--import", AUTO] : []), APP], {
    env: { ...process.env, MANHOLE_PATH: socketPath, MANHOLE_DIR: dir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const listening = new Promise((resolve) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      out += d;
      if (out.includes("LISTENING")) resolve(ms());
    });
  });
  const socket = withAuto ? answers(socketPath).then(ms) : Promise.resolve(undefined);
  return Promise.all([listening, socket]).then(([app, manhole]) => {
    child.kill("SIGTERM");
    return new Promise((resolve) => child.once("exit", () => resolve({ app, manhole })));
  });
}

(async () => {
  const plain = [];
  const auto = [];
  const socket = [];
  await start(false); // warm the file cache
  await start(true);
  for (let i = 0; i < REPS; i++) {
    for (const withAuto of i % 2 ? [true, false] : [false, true]) {
      const r = await start(withAuto);
      if (withAuto) {
        auto.push(r.app);
        socket.push(r.manhole);
      } else plain.push(r.app);
    }
  }
  const sorted = (a) => [...a].sort((x, y) => x - y);
  const [p, a, s] = [sorted(plain), sorted(auto), sorted(socket)];
  const added = median(a) - median(p);
  console.log(`Start-up of an app that never loads manhole, plain and with --import manhole/auto (${REPS} each, interleaved)`);
  console.log(`${machine()}\n`);
  table(
    ["start", "p50 ms", "p99 ms"],
    [
      ["plain: spawn → LISTENING", median(p).toFixed(1), percentile(p, 99).toFixed(1)],
      ["--import manhole/auto: spawn → LISTENING", median(a).toFixed(1), percentile(a, 99).toFixed(1)],
      ["--import manhole/auto: spawn → socket answers", median(s).toFixed(1), percentile(s, 99).toFixed(1)],
    ],
  );
  console.log(
    `\nadded to the app's start (p50): ${added.toFixed(1)} ms (target at most ${TARGET_MS} ms) -> ${added <= TARGET_MS ? "MET" : "NOT MET"}`,
  );
  record("auto start-up added p50 ms", Number(added.toFixed(1)));
  record("auto socket answers p50 ms", Number(median(s).toFixed(1)));
  await cleanup();
})().catch(async (err) => {
  console.error(err);
  await cleanup();
  process.exit(1);
});
