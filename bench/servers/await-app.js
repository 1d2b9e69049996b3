// An await-heavy HTTP app for bench/profile.js: every request goes through a chain of awaits
// (what the Debugger domain, if left enabled, slows most), and runs a threaded manhole. It can
// grow its heap (`grow(n)` through the manhole) and measures its own longest event-loop pause
// (`maxLagMs`, reset with `resetLag()`). Reports one JSON line {port, socket}; exits when stdin ends.
"use strict";
const http = require("node:http");
const path = require("node:path");
const { startManhole } = require(path.join(__dirname, "..", "..", "dist", "agent", "index.js"));

const step = async (n) => n + 1;
async function handle() {
  let n = 0;
  for (let i = 0; i < 20; i++) n = await step(n);
  return n;
}
const server = http.createServer((req, res) => {
  handle().then((n) => res.end(JSON.stringify({ n, url: req.url })));
});

const kept = [];
let last = performance.now();
let maxLagMs = 0;
setInterval(() => {
  const now = performance.now();
  maxLagMs = Math.max(maxLagMs, now - last);
  last = now;
}, 10).unref();
const app = {
  grow: (n) => {
    for (let i = 0; i < n; i++) kept.push({ i, s: `item-${i}`, o: { v: i } });
    return kept.length;
  },
  resetLag: () => {
    maxLagMs = 0;
    return 0;
  },
  lag: () => maxLagMs,
  heapUsed: () => process.memoryUsage().heapUsed,
};

async function main() {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const handle = await startManhole({ namespace: { app }, banner: null });
  process.stdout.write(`${JSON.stringify({ port: server.address().port, socket: handle.path })}\n`);
  process.stdin.on("end", async () => {
    server.close();
    await handle.close();
    process.exit(0);
  });
  process.stdin.resume();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
