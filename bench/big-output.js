// Big output to a slow reader: one evaluation prints 50 MB to a client that reads 1 MB a second.
// The app measures its own event-loop delay meanwhile (monitorEventLoopDelay) and its RSS; the
// output must be cut where maxOutputBytes says, with the note. Run with the default
// maxOutputBytes (1 MiB) and with 8 MiB (8 s of reading at 1 MB/s). A client that stops reading
// altogether is closed past 16 MiB unread (test/unread-output.test.mjs).
//
//   node bench/big-output.js     (after `npm run build`)
//   BENCH_READ_MBPS=2 BENCH_MODE=inline node bench/big-output.js
"use strict";
const net = require("node:net");
const path = require("node:path");
const { privateTempDir, startChild, cleanup, table, record, machine } = require("./lib.js");

const SERVER = path.join(__dirname, "servers", "http-load.js");
const READ_MBPS = Number(process.env.BENCH_READ_MBPS || 1);
const MODE = process.env.BENCH_MODE || "threaded";
const PRINTED_MB = 50;
const TARGET = { loopP99Ms: 20, rssMb: 64 };

/** Reads the socket at READ_MBPS until it has the prompt after the output; resolves to bytes read. */
function slowRead(socket) {
  return new Promise((resolve) => {
    let bytes = 0;
    let tail = "";
    const chunk = 64 * 1024;
    const everyMs = (chunk / (READ_MBPS * 1e6)) * 1000;
    const timer = setInterval(() => {
      const d = socket.read(chunk) ?? socket.read();
      if (!d) return;
      bytes += d.length;
      tail = (tail + d.toString("latin1")).slice(-400);
      if (/\n(undefined\n)?>>> $/.test(tail) && bytes > 1000) {
        clearInterval(timer);
        resolve({ bytes, tail });
      }
    }, everyMs);
  });
}

async function run(maxOutputBytes) {
  const dir = privateTempDir("mh-bench-big-");
  const socketPath = path.join(dir, "big.sock");
  const { child, first, next } = await startChild(SERVER, ["plain", MODE, socketPath], {
    env: { MANHOLE_DIR: dir, BENCH_LOOP_DELAY: "1", BENCH_MANHOLE_OPTIONS: JSON.stringify({ maxOutputBytes }) },
  });
  void first;
  const ask = async () => {
    child.stdin.write("loop\n");
    return next();
  };
  await ask(); // resets the histogram
  const before = await ask();
  const socket = net.createConnection(socketPath);
  await new Promise((resolve) => socket.once("readable", resolve));
  socket.read(); // the prompt
  const started = Date.now();
  socket.write(`for (let i = 0; i < ${PRINTED_MB}; i++) console.log("x".repeat(1e6 - 1))\n`);
  const { bytes, tail } = await slowRead(socket);
  const seconds = (Date.now() - started) / 1000;
  const during = await ask();
  socket.destroy();
  return {
    maxOutputBytes,
    bytes,
    cut: /\[output cut: over maxOutputBytes/.test(tail),
    seconds,
    loopP99Ms: during.loopP99Ms,
    loopMaxMs: during.loopMaxMs,
    rssGrowthMb: (during.rss - before.rss) / 2 ** 20,
  };
}

async function main() {
  const rows = [];
  for (const max of [1024 * 1024, 8 * 1024 * 1024]) {
    const r = await run(max);
    rows.push([
      `${max / 2 ** 20} MiB`,
      (r.bytes / 2 ** 20).toFixed(2),
      r.cut ? "yes" : "NO",
      r.seconds.toFixed(1),
      `${r.loopP99Ms.toFixed(1)} ${r.loopP99Ms < TARGET.loopP99Ms ? "MET" : "NOT MET"}`,
      r.loopMaxMs.toFixed(1),
      `${r.rssGrowthMb.toFixed(1)} ${r.rssGrowthMb < TARGET.rssMb ? "MET" : "NOT MET"}`,
    ]);
    record(`${max / 2 ** 20} MiB: loop p99 ms`, Number(r.loopP99Ms.toFixed(2)));
    record(`${max / 2 ** 20} MiB: rss growth MB`, Number(r.rssGrowthMb.toFixed(1)));
    record(`${max / 2 ** 20} MiB: cut`, r.cut);
  }
  console.log(`Big output: one evaluation prints ${PRINTED_MB} MB to a client reading ${READ_MBPS} MB/s (${MODE})`);
  console.log(`${machine()}\n`);
  table(
    [
      "maxOutputBytes",
      "MiB read",
      "cut, with the note",
      "s to read",
      `loop delay p99 ms (< ${TARGET.loopP99Ms})`,
      "max ms",
      `RSS growth MB (< ${TARGET.rssMb})`,
    ],
    rows,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
