// Many sessions at once: SESSIONS clients (half human over the line protocol, half structured)
// each evaluate EVALS inputs as fast as their answers come, all at the same time, against one
// app serving HTTP under light load. Every answer must be the one its session asked for (each
// input is `<session> * 1e6 + <n>`): none lost, none crossed between sessions. Reported:
// evaluations per second over all sessions, and the app's HTTP p99 latency meanwhile vs before.
//
//   node bench/concurrency.js     (after `npm run build`)
//   BENCH_SESSIONS=50 BENCH_EVALS=200 BENCH_MODE=inline node bench/concurrency.js
"use strict";
const net = require("node:net");
const path = require("node:path");
const autocannon = require("autocannon");
const { privateTempDir, startChild, cleanup, table, record, machine } = require("./lib.js");

const SESSIONS = Number(process.env.BENCH_SESSIONS || 50);
const EVALS = Number(process.env.BENCH_EVALS || 200);
const MODE = process.env.BENCH_MODE || "threaded";
const SERVER = path.join(__dirname, "servers", "http-load.js");

/** One session: evaluates its EVALS inputs one after the other; resolves to { ok, wrong, lost }. */
function session(socketPath, n, structured) {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.setEncoding("utf8");
    let buf = "";
    let i = 0;
    let ok = 0;
    let wrong = 0;
    const expect = () => String(n * 1e6 + i);
    const send = () => {
      if (i >= EVALS) {
        socket.end();
        return resolve({ ok, wrong, lost: EVALS - ok - wrong });
      }
      socket.write(structured ? `{"op":"eval","id":${i + 2},"code":"${n} * 1e6 + ${i}"}\n` : `${n} * 1e6 + ${i}\n`);
    };
    socket.on("error", reject);
    socket.on("close", () => resolve({ ok, wrong, lost: EVALS - ok - wrong }));
    let greeted = !structured;
    let prompted = structured; // human mode: the first prompt (the server has no banner) starts it
    socket.on("data", (d) => {
      buf += d;
      if (!greeted) {
        const at = buf.indexOf('{"op":"hello"');
        const nl = at < 0 ? -1 : buf.indexOf("\n", at);
        if (nl < 0) return;
        buf = buf.slice(nl + 1);
        greeted = true;
        return send();
      }
      for (;;) {
        if (structured) {
          const nl = buf.indexOf("\n");
          if (nl < 0) return;
          const line = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (line.op !== "value" && line.op !== "error") continue;
          if (line.id === i + 2 && line.text === expect()) ok++;
          else wrong++;
        } else {
          const at = buf.indexOf(">>> ");
          if (at < 0) return;
          const answer = buf.slice(0, at).trim();
          buf = buf.slice(at + 4);
          if (!prompted) {
            prompted = true;
            send();
            continue;
          }
          if (answer.split("\n").pop() === expect()) ok++;
          else wrong++;
        }
        i++;
        send();
      }
    });
    if (structured) socket.write(`${JSON.stringify({ op: "hello", id: 1, protocol: [1], client: "bench" })}\n`);
  });
}

/** The app's HTTP p99 over `seconds`, or while `work` runs (light load: 2 connections). */
function p99During(port, seconds, work) {
  return new Promise((resolve, reject) => {
    let result;
    const instance = autocannon({ url: `http://127.0.0.1:${port}/`, connections: 2, duration: work ? 3600 : seconds }, (err, r) => {
      if (err) return reject(err);
      if (r.non2xx || r.errors) return reject(new Error(`bad responses: ${r.non2xx} non-2xx, ${r.errors} errors`));
      resolve({ p99: r.latency.p99, result });
    });
    if (work)
      work().then((value) => {
        result = value;
        instance.stop();
      }, reject);
  });
}

async function main() {
  const dir = privateTempDir("mh-bench-conc-");
  const socket = path.join(dir, "app.sock");
  const { first } = await startChild(SERVER, ["plain", MODE, socket], {
    env: { MANHOLE_DIR: dir, BENCH_MANHOLE_OPTIONS: JSON.stringify({ maxConnections: SESSIONS + 8, banner: undefined }) },
  });
  const before = await p99During(first.port, 3);
  let seconds = 0;
  const during = await p99During(first.port, 0, async () => {
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: SESSIONS }, (_, n) => session(socket, n + 1, n % 2 === 1)));
    seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return results;
  });
  const all = during.result;
  const ok = all.reduce((a, r) => a + r.ok, 0);
  const wrong = all.reduce((a, r) => a + r.wrong, 0);
  const lost = all.reduce((a, r) => a + r.lost, 0);
  console.log(`Concurrency: ${SESSIONS} sessions (half human, half structured) × ${EVALS} evaluations at once, ${MODE}`);
  console.log(`${machine()}\n`);
  table(
    ["evaluations", "correct", "wrong or crossed", "lost", "evals/s", "HTTP p99 before ms", "HTTP p99 during ms"],
    [[SESSIONS * EVALS, ok, wrong, lost, Math.round(ok / seconds), before.p99.toFixed(1), during.p99.toFixed(1)]],
  );
  record("correct", ok);
  record("wrong", wrong);
  record("lost", lost);
  record("evals per second", Math.round(ok / seconds));
  record("http p99 ms before", before.p99);
  record("http p99 ms during", during.p99);
  if (wrong || lost) process.exitCode = 1;
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
