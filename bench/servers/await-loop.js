// The app of bench/await-cost.js: starts a manhole, lets a session do some manhole work and
// close, runs the loop once to warm it, says READY and waits for "go" on stdin (the bench zeroes callgrind's counters), runs
// the loop, says LOOPED and waits for "exit" (the bench dumps the counters).
// argv: loop ("await" | "stat"), variant ("none" | "unused" | "eval" | "profile" | "watch" | "watch-async" | "pause"),
// iterations, a directory for the socket.
"use strict";
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");
const { startManhole } = require("../../dist/agent/index.js");
const { chain } = require("./await-chain.js");

const [loop, variant, iterations, dir] = process.argv.slice(2);

const stat = () => new Promise((resolve) => fs.stat(__filename, resolve));

/** Where `.pause --at` stops: a line that runs each time the app calls it (not the line it is defined on). */
function pauseTarget(x) {
  return x + 1; // PAUSE HERE
}
const ownLines = fs.readFileSync(__filename, "utf8").split("\n");
const PAUSE_AT = `${__filename}:${ownLines.findIndex((l) => l.endsWith("// PAUSE HERE")) + 1}`;

/** The app's own functions, for `.watch` and `.pause --at`. */
globalThis.work = { step: (x) => x + 1, stepAsync: async (x) => x + 1, pauseTarget };

/** Sends each step's input in one human session, the next once the output has the step's `until` in it. */
function ask(socketPath, steps) {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    let got = "";
    let step = 0;
    s.setEncoding("utf8");
    s.on("data", (d) => {
      got += d;
      if (!got.includes(steps[step][1])) return;
      got = "";
      if (++step < steps.length) s.write(steps[step][0]);
      else {
        s.end();
        resolve();
      }
    });
    s.on("error", reject);
    s.write(steps[0][0]);
  });
}

/**
 * The same from a client process of its own: while the main thread is paused at a breakpoint,
 * a client on it could not read the paused prompt or send `.resume`.
 */
function askFromAnotherProcess(socketPath, steps) {
  const { execFile } = require("node:child_process");
  const client = `(${ask.toString()})(process.argv[1], JSON.parse(process.argv[2])).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); })`;
  return new Promise((resolve, reject) =>
    execFile(
      process.execPath,
      ["-e", `const net = require("node:net"); ${client}`, socketPath, JSON.stringify(steps)],
      { timeout: 600_000 },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}

/** Lines from stdin: next(line) resolves when that line has come. */
function lineReader() {
  let buf = "";
  const waiting = [];
  process.stdin.setEncoding("utf8").on("data", (d) => {
    buf += d;
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (buf.includes(`${waiting[i].line}\n`)) waiting.splice(i, 1)[0].resolve();
    }
  });
  return {
    next: (line) => new Promise((resolve) => (buf.includes(`${line}\n`) ? resolve() : waiting.push({ line, resolve }))),
  };
}

const WORK = {
  none: null,
  unused: null,
  eval: [["1\n", "1\n>>> "]],
  profile: [[".profile 1\n", "saved "]],
  watch: [[".watch work.step --count 1\n", "restored"]],
  // A watched function that returns a promise: the watch learns of its settling from a promise hook.
  "watch-async": [[".watch work.stepAsync --count 1\n", "restored"]],
  // A one-shot breakpoint in a function the app calls, then `.resume` (the Debugger is on between the two).
  pause: [
    [`.pause --at ${PAUSE_AT} --seconds 120s\n`, "(paused) >>> "],
    [".resume\n", "Resumed after"],
  ],
};

async function main() {
  const socketPath = path.join(dir, `app-${process.pid}.sock`);
  // "none": the same app without a manhole, what "unused" is read against.
  const handle = variant === "none" ? null : await startManhole({ path: socketPath, banner: null, namespace: { work: globalThis.work } });
  const work = WORK[variant];
  // The app calls its watched function while the watch waits for a call.
  const calls =
    variant.startsWith("watch") || variant === "pause"
      ? setInterval(() => {
          globalThis.work.step(1);
          void globalThis.work.stepAsync(1);
          globalThis.work.pauseTarget(1);
        }, 20)
      : undefined;
  if (work) await (variant === "pause" ? askFromAnotherProcess : ask)(socketPath, work);
  clearInterval(calls);
  // The session's close settles, and the worker's modules for sessions load (a second after
  // listening, when nobody connected; slow under valgrind): setup, not what the loop costs.
  await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SETTLE_MS || 6000)));
  const step = loop === "await" ? chain : stat;
  const run = async (n) => {
    for (let i = 0; i < n; i++) await step();
  };
  // Warm: the loop's code (the app's and Node's) compiled and optimized before it is counted;
  // V8 compiles on this thread under --single-threaded, and a compilation is far costlier
  // than an iteration.
  for (let i = 0; i < 3; i++) await run(Number(iterations));
  const lines = lineReader();
  process.stdout.write("READY\n");
  await lines.next("go");
  await run(Number(iterations));
  process.stdout.write("LOOPED\n");
  await lines.next("exit");
  await handle?.close();
  process.exit(0);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
