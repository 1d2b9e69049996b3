// An HTTP app for bench/diagnostics.js: answers every request with a small JSON body after a
// little work, and runs a threaded manhole. argv[2] = "requests" calls .requests once after
// start, so that its diagnostics_channel subscriptions stay on. Reports one JSON line
// {port, socket}; exits when stdin ends.
"use strict";
const http = require("node:http");
const path = require("node:path");
const { startManhole } = require(path.join(__dirname, "..", "..", "dist", "agent", "index.js"));

const subscribe = process.argv[2] === "requests";
let served = 0;
const server = http.createServer((req, res) => {
  served++;
  const body = JSON.stringify({ served, url: req.url, at: Date.now() });
  res.setHeader("content-type", "application/json");
  res.end(body);
});

async function main() {
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const handle = await startManhole({ namespace: { server }, banner: null });
  if (subscribe) {
    const { ManholeClient } = require(path.join(__dirname, "..", "..", "dist", "cli", "client.js"));
    const client = await ManholeClient.connect(handle.path);
    const r = await client.command("requests");
    if (!r.ok) throw new Error(r.text);
    client.close();
  }
  process.stdout.write(`${JSON.stringify({ port: server.address().port, socket: handle.path, subscribed: subscribe })}\n`);
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
