// What manhole work leaves behind in the app, counted in instructions rather than seconds:
// a loop that awaits 20 chained promises (what V8's promise fast paths speed up) and one that
// makes an fs.stat per iteration (a callback of Node's), run in a process with a manhole that
// nobody used, and in one where a session evaluated `1`, ran `.profile 1`, `.watch`ed a
// function, or paused the app at a breakpoint and resumed it, before the loop (`none`: the same
// app without a manhole, BENCH_VARIANTS=none). Under valgrind's callgrind an instruction count is repeatable
// whatever the machine's neighbours do, so differences of a percent show, which a throughput
// ratio on a shared machine cannot. Counters are zeroed when the app is ready and dumped when
// its loop is done (callgrind_control), so only the loop is counted. Skipped with a note when
// valgrind is absent.
//
//   node bench/await-cost.js    (after `npm run build`)
//   BENCH_ITERATIONS=10000 BENCH_REPEATS=2 BENCH_VARIANTS=eval,watch-async node bench/await-cost.js
"use strict";
const { execFileSync, spawn } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { privateTempDir, cleanup, table, record, machine, hasValgrind, callgrindTotal } = require("./lib.js");

const ITERATIONS = Number(process.env.BENCH_ITERATIONS || 10000);
const REPEATS = Number(process.env.BENCH_REPEATS || 2);
const APP = path.join(__dirname, "servers", "await-loop.js");
const VARIANTS = (process.env.BENCH_VARIANTS || "unused,eval,profile,watch,watch-async,pause").split(",");
if (VARIANTS[0] !== "unused") VARIANTS.unshift("unused"); // what every ratio is against
const LOOPS = { await: ITERATIONS, stat: Math.max(1, Math.round(ITERATIONS / 5)) };

/** Instructions of `n` iterations of the loop (all threads, counted between the app's READY and LOOPED). */
async function instructions(dir, loop, variant, n) {
  const out = path.join(dir, `callgrind-${loop}-${variant}.out`);
  // --single-threaded: V8's compiler and GC work on the main thread, so the count does not
  // depend on how valgrind interleaves helper threads.
  const child = spawn(
    "valgrind",
    ["--tool=callgrind", `--callgrind-out-file=${out}`, process.execPath, "--single-threaded", APP, loop, variant, String(n), dir],
    { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, MANHOLE_DIR: dir } },
  );
  let stdout = "";
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  const said = (word) =>
    new Promise((resolve, reject) => {
      const look = () => {
        if (stdout.includes(`${word}\n`)) resolve();
      };
      child.stdout.on("data", look);
      exited.then(() => reject(new Error(`${loop}/${variant}: exited before ${word}\n${stdout}\n${stderr.slice(-2000)}`)));
      look();
    });
  child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
  const control = (flag) => execFileSync("callgrind_control", [flag, String(child.pid)], { stdio: "ignore" });
  try {
    await said("READY");
    control("-z");
    child.stdin.write("go\n");
    await said("LOOPED");
    control("-d");
    child.stdin.write("exit\n");
    await exited;
    const dump = fs.readdirSync(dir).find((f) => f.startsWith(path.basename(out)) && f.endsWith(".1"));
    if (!dump) throw new Error(`${loop}/${variant}: no dump\n${stderr.slice(-2000)}`);
    return callgrindTotal(path.join(dir, dump));
  } finally {
    child.kill("SIGKILL");
    for (const f of fs.readdirSync(dir)) if (f.startsWith(path.basename(out))) fs.rmSync(path.join(dir, f), { force: true });
  }
}

async function main() {
  console.log("Instructions per loop iteration in an app, with a manhole nobody used and after manhole work (callgrind)");
  console.log(
    "  await: 20 chained promises awaited; stat: one fs.stat; a session evaluated `1`, profiled 1 s, watched a function (one returning a promise: watch-async), or paused the app at a breakpoint (.pause --at) and resumed it, then closed",
  );
  console.log(machine());
  if (!hasValgrind()) {
    console.log("\nskipped: valgrind is not installed (apt-get install valgrind)");
    return;
  }
  const dir = privateTempDir("mh-bench-await-");
  const rows = [];
  for (const [loop, n] of Object.entries(LOOPS)) {
    const perIteration = {};
    for (const variant of VARIANTS) {
      perIteration[variant] = [];
      for (let r = 0; r < REPEATS; r++) {
        perIteration[variant].push((await instructions(dir, loop, variant, n)) / n);
      }
    }
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const variant of VARIANTS) {
      const ratio = mean(perIteration.unused) / mean(perIteration[variant]);
      record(`${loop}.${variant}.ratio`, Number(ratio.toFixed(4)));
      rows.push([
        `${loop}: ${variant === "unused" ? "manhole, unused" : variant === "none" ? "no manhole" : `after ${variant}`}`,
        mean(perIteration[variant]).toFixed(0),
        perIteration[variant].map((x) => x.toFixed(0)).join(" "),
        ratio.toFixed(3),
      ]);
    }
  }
  console.log(
    `\n${ITERATIONS} await iterations, ${LOOPS.stat} stat iterations, counted after 3 warm-up loops; ${REPEATS} runs of each; Node --single-threaded under callgrind\n`,
  );
  table(["loop", "instr/iteration", "by run", "speed vs unused"], rows);
  console.log("\nspeed vs unused: instructions per iteration of the unused manhole / of this variant (1.000: nothing left behind)");
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
