// manhole serving a socket in an app that blocks its own event loop on request: a line
// "block <ms>" on stdin spins the main thread in JavaScript for that long (a loop bounded by
// a property of an object in a local). argv[2] = socket path, argv[3] = another build's agent.
"use strict";
const { startManhole } = require(process.argv[3] || "../../dist/agent/index.js");

function spinTheLedger(job) {
  const until = Date.now() + job.ms;
  let rounds = 0;
  while (rounds < job.limit && Date.now() < until) rounds++;
  return rounds;
}

async function main() {
  const handle = await startManhole({ path: process.argv[2], banner: null, timeout: 60_000 });
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d) => {
    buf += d;
    for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
      const [cmd, arg] = buf.slice(0, nl).split(" ");
      buf = buf.slice(nl + 1);
      if (cmd === "block") {
        process.stdout.write(`${JSON.stringify({ blocking: true })}\n`);
        spinTheLedger({ limit: Number.MAX_SAFE_INTEGER, ms: Number(arg) });
        process.stdout.write(`${JSON.stringify({ unblocked: true })}\n`);
      }
    }
  });
  process.stdin.on("end", () => {
    handle.close().finally(() => process.exit(0));
  });
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
