// An HTTP server for bench/containment-overhead.js and host-overhead.js, with or without a manhole.
// argv[2] = "await" (each request awaits 20 chained promises) | "stat" (one fs.stat per request)
//   | "plain" (answers at once);
// argv[3] = "none" | "threaded" | "inline"; argv[4] = socket path (with a manhole).
// With BENCH_LOOP_DELAY=1 it measures its own event-loop delay; a "loop" line on stdin answers with
// { loopP99Ms, loopMaxMs, rss } since the last such line.
// Reports one JSON line: { port }; then, for each "cpu" line on stdin, { cpuUs, requests }: the
// CPU time this process has used (all threads) and the requests it has served so far.
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const { chain } = require("./await-chain.js");

const kind = process.argv[2];
const mode = process.argv[3];

let requests = 0;
// In the manhole's namespace (`handlers.plain`, ...) and looked up per request, so that a
// `.watch` of one sees the server's calls; `await` returns its promise, as an async handler does.
const handlers = {
  await(_req, res) {
    requests++;
    return chain().then((n) => res.end(`ok ${n}\n`));
  },
  plain(_req, res) {
    requests++;
    res.end("ok\n");
  },
  stat(_req, res) {
    requests++;
    fs.stat(__filename, (err, st) => res.end(err ? "no\n" : `ok ${st.size}\n`));
  },
};

async function main() {
  const server = http.createServer((req, res) => handlers[kind](req, res));
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  let handle;
  if (mode !== "none") {
    const { startManhole } = require("../../dist/agent/index.js");
    // BENCH_MANHOLE_OPTIONS: more options as JSON (maxConnections for the concurrency part, ...).
    const more = JSON.parse(process.env.BENCH_MANHOLE_OPTIONS || "{}");
    handle = await startManhole({
      path: process.argv[4],
      banner: null,
      threaded: mode === "threaded",
      namespace: { server, handlers },
      ...more,
    });
  }
  // BENCH_TIMER_MS: a timer of the app's own, re-armed like the manhole's heartbeat (a control:
  // what any timer does to the counts, apart from the manhole).
  if (process.env.BENCH_TIMER_MS) {
    const beat = () => setTimeout(beat, Number(process.env.BENCH_TIMER_MS)).unref();
    beat();
  }
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
  const { monitorEventLoopDelay } = require("node:perf_hooks");
  const delay = monitorEventLoopDelay({ resolution: 5 });
  if (process.env.BENCH_LOOP_DELAY === "1") delay.enable(); // only where asked: it is a timer of its own
  process.stdin.setEncoding("utf8").on("data", (d) => {
    for (const line of d.split("\n")) {
      if (line === "loop") {
        process.stdout.write(
          `${JSON.stringify({ loopP99Ms: delay.percentile(99) / 1e6, loopMaxMs: delay.max / 1e6, rss: process.memoryUsage().rss })}\n`,
        );
        delay.reset();
      }
      if (line !== "cpu") continue;
      const { user, system } = process.cpuUsage();
      process.stdout.write(`${JSON.stringify({ cpuUs: user + system, requests })}\n`);
    }
  });
  process.stdin.on("end", async () => {
    server.close();
    if (handle) await handle.close();
    process.exit(0);
  });
  process.stdin.resume();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
