// An app for bench/watch.js: an HTTP server whose handler awaits an async service function a few
// times (so that a promise hook left on would show), and routes that time calls of a sync one:
// GET /calls?n=N[&via=held] answers the mean ns per call of svc.add (or of the reference /hold
// kept); GET /stats answers {served, cpuMicros} (the process's CPU time). Runs a threaded manhole. Reports one JSON line {port, socket}; exits when stdin ends.
"use strict";
const http = require("node:http");
const path = require("node:path");
const { startManhole } = require(path.join(__dirname, "..", "..", "dist", "agent", "index.js"));

const svc = {
  add(a, b) {
    return a + b;
  },
  async handle(url) {
    let n = 0;
    for (let i = 0; i < 5; i++) n += await Promise.resolve(i);
    return { url, n };
  },
};
let held = svc.add;
let sink = 0;
let served = 0;

function timeCalls(n, via) {
  const f = via === "held" ? held : undefined;
  const began = process.hrtime.bigint();
  if (f) for (let i = 0; i < n; i++) sink += f(i, 1);
  else for (let i = 0; i < n; i++) sink += svc.add(i, 1);
  return Number(process.hrtime.bigint() - began) / n;
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/calls") return res.end(String(timeCalls(Number(url.searchParams.get("n")), url.searchParams.get("via"))));
  if (url.pathname === "/stats") {
    const cpu = process.cpuUsage();
    return res.end(JSON.stringify({ served, cpuMicros: cpu.user + cpu.system }));
  }
  if (url.pathname === "/hold") {
    held = svc.add;
    return res.end("held");
  }
  served++;
  const body = JSON.stringify(await svc.handle(req.url));
  res.setHeader("content-type", "application/json");
  res.end(body);
});

async function main() {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const handle = await startManhole({ namespace: { svc }, banner: null });
  process.stdout.write(`${JSON.stringify({ port: server.address().port, socket: handle.path })}\n`);
  process.stdin.on("end", async () => {
    server.close();
    await handle.close();
    process.exit(sink === -1 ? 1 : 0);
  });
  process.stdin.resume();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
