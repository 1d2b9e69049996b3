// `manhole attach`: time from the command to the first answer in the session it opens (the
// first prompt is there one round trip earlier), and how long the target's inspector port is
// open during it, over 20 attaches (each followed by a detach) to an HTTP app that never loaded
// manhole, while a request loop keeps it busy. The port's window is measured twice: from the
// CLI's own step timestamps (SIGUSR1 sent → port closed, an upper bound), and from outside, by
// a probe connecting to the port every millisecond (first → last moment it accepted).
//
//   node bench/attach.js                (after `npm run build`)
//   BENCH_ATTACHES=50 node bench/attach.js
"use strict";
const { spawn } = require("node:child_process");
const http = require("node:http");
const net = require("node:net");
const path = require("node:path");
const { privateTempDir, startChild, cleanup, percentile, table, machine } = require("./lib.js");

const ATTACHES = Number(process.env.BENCH_ATTACHES || 20);
const PORT_TARGET_MS = 250;
const MAIN = path.join(__dirname, "..", "dist", "cli", "main.js");
const APP = path.join(__dirname, "servers", "plain-http.js");

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Connects to `port` every ~1 ms; records the first and last moment something accepted. */
function probe(port) {
  const state = { first: undefined, last: undefined, running: true };
  const once = () =>
    new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        const now = performance.now();
        state.first ??= now;
        state.last = now;
        s.destroy();
        resolve();
      });
      s.once("error", () => resolve());
    });
  state.done = (async () => {
    while (state.running) {
      await once();
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  return state;
}

/** Runs the CLI; resolves when `until` matches its stdout (or it exits) with the time taken. */
function run(args, input, until, env) {
  return new Promise((resolve, reject) => {
    const began = performance.now();
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
    let out = "";
    let err = "";
    let at;
    child.stdout.setEncoding("utf8").on("data", (d) => {
      out += d;
      if (at === undefined && until && until.test(out)) at = performance.now() - began;
    });
    child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`manhole ${args.join(" ")} exited ${code}: ${err}`));
      else resolve({ ms: at ?? performance.now() - began, out, err });
    });
    child.stdin.end(input);
  });
}

function requestLoop(port) {
  const state = { ok: 0, failed: 0, running: true };
  const one = () =>
    new Promise((resolve) => {
      http
        .get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
          res.resume();
          res.on("end", () => {
            if (res.statusCode === 200) state.ok++;
            else state.failed++;
            resolve();
          });
        })
        .on("error", () => {
          state.failed++;
          resolve();
        });
    });
  state.done = (async () => {
    while (state.running) {
      await one();
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return state;
}

const fmt = (v) => v.toFixed(1);

async function main() {
  const dir = privateTempDir("mh-bench-attach-");
  const inspectPort = await freePort();
  const env = { MANHOLE_DIR: dir };
  const { child, first } = await startChild(APP, [], { nodeArgs: [`--inspect-port=${inspectPort}`], env });
  const pid = String(child.pid);
  const load = requestLoop(first.port);
  const rows = { answer: [], steps: [], probed: [], inspector: [], connected: [], evaluated: [], listen: [], detach: [] };
  const at = (err, what) => Number(new RegExp(`([\\d.]+) ms {2}${what}`).exec(err)[1]);
  for (let i = 0; i < ATTACHES; i++) {
    const p = probe(inspectPort);
    const a = await run(["attach", pid], "process.pid\n", new RegExp(`^${pid}$`, "m"), env);
    p.running = false;
    await p.done;
    rows.answer.push(a.ms);
    rows.steps.push(Number(/was open for at most ([\d.]+) ms/.exec(a.err)[1]));
    rows.probed.push(p.first === undefined ? 0 : p.last - p.first);
    rows.inspector.push(at(a.err, "inspector listening"));
    rows.connected.push(at(a.err, "connected to the inspector"));
    rows.evaluated.push(at(a.err, "it is process"));
    rows.listen.push(at(a.err, "manhole listening"));
    const d = await run(["attach", "--detach", pid], "", undefined, env);
    rows.detach.push(d.ms);
  }
  load.running = false;
  await load.done;
  const line = (name, values, target) => {
    const s = [...values].sort((a, b) => a - b);
    return [name, fmt(percentile(s, 50)), fmt(percentile(s, 99)), fmt(s[s.length - 1]), target ?? ""];
  };
  console.log(`manhole attach, ${ATTACHES} attaches + detaches, ${machine()}`);
  table(
    ["measure (ms)", "p50", "p99", "max", "target"],
    [
      line("command → first answer", rows.answer),
      line("port open (CLI steps: SIGUSR1 → closed)", rows.steps, `< ${PORT_TARGET_MS} p99`),
      line("port open (probed from outside)", rows.probed, `< ${PORT_TARGET_MS} p99`),
      line("  SIGUSR1 → inspector answers /json/list", rows.inspector),
      line("  SIGUSR1 → WebSocket open", rows.connected),
      line("  SIGUSR1 → agent's attach() answered", rows.evaluated),
      line("SIGUSR1 → manhole listening", rows.listen),
      line("attach --detach, whole command", rows.detach),
    ],
  );
  console.log(`requests to the app meanwhile: ${load.ok} answered, ${load.failed} failed`);
  const p99 = percentile(
    [...rows.steps].sort((a, b) => a - b),
    99,
  );
  if (p99 >= PORT_TARGET_MS) console.log(`MISSED: port-open p99 ${fmt(p99)} ms ≥ ${PORT_TARGET_MS} ms`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
