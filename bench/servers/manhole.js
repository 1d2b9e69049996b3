// manhole serving a socket. argv[2] = socket path, argv[3] = "threaded" | "inline",
// argv[4] = another build's agent entry (BENCH_BASELINE: a before/after comparison in one run).
"use strict";
const { startManhole } = require(process.argv[4] || "../../dist/agent/index.js");

async function main() {
  const handle = await startManhole({ path: process.argv[2], banner: null, threaded: process.argv[3] !== "inline" });
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, threaded: handle.threaded })}\n`);
  process.stdin.on("end", () => {
    handle.close().finally(() => process.exit(0));
  });
  process.stdin.resume(); // keeps the (otherwise empty) app alive, like a real app's work would
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
