// A small app (an HTTP server and a timer) for bench/memory.js.
// argv[2] = "none" | "import" (require manhole, start nothing) | "inline" | "threaded" |
// "worker" (an idle, empty worker thread, for reference); argv[3] = settle ms. Reports one JSON line.
"use strict";
const { performance } = require("node:perf_hooks");
const http = require("node:http");
const path = require("node:path");

const mode = process.argv[2];
const settleMs = Number(process.argv[3] || 1000);

let ticks = 0;
const timer = setInterval(() => {
  ticks++;
}, 100);
const server = http.createServer((_req, res) => res.end(`ticks ${ticks}\n`));

function settle() {
  if (typeof global.gc === "function") {
    global.gc();
    global.gc();
  }
  return process.memoryUsage();
}

async function main() {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  let requireMs = 0;
  let startMs = 0;
  let handle;
  if (mode === "worker") {
    const { Worker } = require("node:worker_threads");
    const t0 = performance.now();
    const worker = new Worker('require("node:worker_threads").parentPort.postMessage("up"); setInterval(() => {}, 60000);', {
      eval: true,
      execArgv: [],
    });
    worker.unref();
    await new Promise((resolve) => worker.once("message", resolve));
    startMs = performance.now() - t0;
  } else if (mode === "import") {
    const t0 = performance.now();
    require(path.join(__dirname, "..", "..", "dist", "agent", "index.js"));
    requireMs = performance.now() - t0;
  } else if (mode !== "none") {
    const t0 = performance.now();
    const { startManhole } = require(path.join(__dirname, "..", "..", "dist", "agent", "index.js"));
    const t1 = performance.now();
    handle = await startManhole({ namespace: { server }, threaded: mode === "threaded" });
    const t2 = performance.now();
    requireMs = t1 - t0;
    startMs = t2 - t1;
  }
  // One request, so the app has actually served something.
  await new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: server.address().port }, (res) => res.resume().on("end", resolve)).on("error", reject);
  });
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const mem = settle();
  process.stdout.write(
    `${JSON.stringify({
      mode,
      threaded: handle ? handle.threaded : null,
      socket: handle ? handle.path : null,
      requireMs,
      startMs,
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
    })}\n`,
  );
  process.stdin.on("end", async () => {
    clearInterval(timer);
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
