// Round-trip time of evaluating `1+1` over a Unix socket: send "1+1\n", wait for the answer
// and the next prompt (human line mode), or send `{"op":"eval","id":N,"code":"1+1"}\n` and
// wait for the `{"op":"value","id":N,...}\n` line (structured mode, after a hello). The
// client (this process) is a raw net client; every server runs in its own child process.
// Targets are measured interleaved, in rounds, so that a noisy neighbour on a shared
// machine hurts all of them alike.
//
//   node bench/round-trip.js            (after `npm run build`)
//   BENCH_N=10000 BENCH_WARMUP=500 BENCH_ROUNDS=20 node bench/round-trip.js
//   BENCH_BASELINE=../other/dist/agent/index.js node bench/round-trip.js   (before/after)
//   BENCH_PYTHON=/path/to/python3 node bench/round-trip.js   (with aiomanhole and manhole importable:
//     the Python peers, bench/peers/*.py, in the same rounds)
"use strict";
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const vm = require("node:vm");
const path = require("node:path");
const { AGENT, privateTempDir, startChild, cleanup, percentile, table, record, machine } = require("./lib.js");

const N = Number(process.env.BENCH_N || 10000); // measured round trips per target
const WARMUP = Number(process.env.BENCH_WARMUP || 500);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 20);
const RELAY_TARGET_US = 100;
// Against the bare worker relay (g), the floor of a design that answers while the loop is
// blocked: structured p50 at most 1.25× its p50, p99 at most 2× its p99; human within 10%.
const FLOOR_P50 = 1.25;
const FLOOR_P99 = 2;
const HUMAN_WITHIN = 0.1;

const SERVERS = path.join(__dirname, "servers");
const TARGETS = [
  { key: "echo", label: "(a) raw echo (floor)", file: "echo.js", args: [], greeting: "", reply: "1+1\n" },
  { key: "repl", label: "(b) node:repl", file: "node-repl.js", args: [], greeting: "> ", reply: "2\n> " },
  { key: "threaded", label: "(c) manhole threaded", file: "manhole.js", args: ["threaded"], greeting: ">>> ", reply: "2\n>>> " },
  { key: "inline", label: "(d) manhole threaded:false", file: "manhole.js", args: ["inline"], greeting: ">>> ", reply: "2\n>>> " },
  { key: "s-threaded", label: "(e) manhole structured", file: "manhole.js", args: ["threaded"], structured: true },
  { key: "s-inline", label: "(f) structured threaded:false", file: "manhole.js", args: ["inline"], structured: true },
  { key: "relay", label: "(g) bare worker relay", file: "worker-relay.js", args: [], structured: true },
];
// BENCH_BASELINE=<another checkout>/dist/agent/index.js: that build too, interleaved with this one.
if (process.env.BENCH_BASELINE) {
  const base = path.resolve(process.env.BENCH_BASELINE);
  TARGETS.push(
    { key: "b-threaded", label: "(h) baseline threaded", file: "manhole.js", args: ["threaded", base], greeting: ">>> ", reply: "2\n>>> " },
    { key: "b-s-threaded", label: "(i) baseline structured", file: "manhole.js", args: ["threaded", base], structured: true },
  );
}

// BENCH_PYTHON=<a python3 with aiomanhole and manhole importable>: the Python peers too, measured
// by the same client in the same rounds. Each is skipped, with the reason, where it does not import.
const PEERS = path.join(__dirname, "peers");
const PYTHON_PEERS = [
  { key: "py-aiomanhole", label: "(j) aiomanhole (Python)", module: "aiomanhole", file: "aiomanhole-app.py" },
  { key: "py-manhole", label: "(k) python-manhole", module: "manhole", file: "python-manhole-app.py" },
];
const peerNotes = [];
if (process.env.BENCH_PYTHON) {
  const python = process.env.BENCH_PYTHON;
  for (const p of PYTHON_PEERS) {
    try {
      execFileSync(python, ["-c", `import ${p.module}`], { stdio: "pipe", timeout: 20_000 });
    } catch (err) {
      const why = String(err.stderr || err.message)
        .trim()
        .split("\n")
        .pop();
      peerNotes.push(`${p.label} skipped: ${python} cannot import ${p.module} (${why})`);
      continue;
    }
    // Both print their REPL's banner, then ">>> "; "1+1" gives "2" and the next prompt.
    TARGETS.push({ ...p, command: python, file: path.join(PEERS, p.file), args: [], greetingEnds: ">>> ", reply: "2\n>>> " });
  }
} else {
  peerNotes.push("Python peers (aiomanhole, python-manhole) skipped: set BENCH_PYTHON to a python3 that imports them");
}

const HELLO = `${JSON.stringify({ op: "hello", id: 1, protocol: [1], client: "bench" })}\n`;

/** What one round trip sends and the exact bytes it waits for. */
function exchange(target) {
  if (!target.structured) return { request: () => "1+1\n", expected: () => target.reply };
  // Request ids go on from the hello's id 1: 2, 3, ...
  return {
    request: (id) => `{"op":"eval","id":${id},"code":"1+1"}\n`,
    expected: (id) => `{"op":"value","id":${id},"text":"2","json":2}\n`,
  };
}

/**
 * Connects and consumes the greeting (prompt); resolves to a client that can time round trips.
 * Structured: sends the hello at once, then skips everything up to and including the hello
 * reply line (the agent's human banner and prompt come first).
 */
function connect(socketPath, target) {
  const { greeting = "", greetingEnds, structured = false } = target;
  const { request, expected } = exchange(target);
  let nextId = 2;
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(socketPath);
    socket.setEncoding("utf8");
    socket.on("error", reject);
    let buf = "";
    let onReply = null;
    socket.on("data", (d) => {
      buf += d;
      if (onReply) onReply();
    });
    const ready = () => {
      if (structured) {
        const at = buf.indexOf('{"op":"hello"');
        const nl = at === -1 ? -1 : buf.indexOf("\n", at);
        if (nl === -1) {
          if (buf.includes('"op":"error"') && buf.endsWith("\n")) reject(new Error(`hello refused: ${buf}`));
          return false;
        }
        const line = buf.slice(at, nl);
        buf = buf.slice(nl + 1);
        if (JSON.parse(line).protocol !== 1) {
          reject(new Error(`unexpected hello reply ${line}`));
          return false;
        }
        if (buf !== "") {
          reject(new Error(`unexpected bytes after the hello reply: ${JSON.stringify(buf)}`));
          return false;
        }
      } else if (greetingEnds !== undefined ? !buf.endsWith(greetingEnds) : buf !== greeting) return false;
      buf = "";
      onReply = null;
      resolve({ socket, roundTrips });
      return true;
    };
    socket.on("connect", () => {
      if (structured) {
        onReply = ready;
        socket.write(HELLO);
      } else if (greeting === "" && greetingEnds === undefined) ready();
      else onReply = ready;
    });

    /** `count` sequential round trips; resolves to their durations in µs. */
    function roundTrips(count) {
      return new Promise((done, fail) => {
        const times = new Float64Array(count);
        let i = 0;
        let t0 = 0n;
        let want = "";
        const send = () => {
          const id = nextId++;
          const line = request(id);
          want = expected(id);
          t0 = process.hrtime.bigint();
          socket.write(line);
        };
        onReply = () => {
          if (buf.length < want.length) return;
          const t1 = process.hrtime.bigint();
          if (buf !== want) {
            onReply = null;
            fail(new Error(`unexpected reply ${JSON.stringify(buf)} (wanted ${JSON.stringify(want)})`));
            return;
          }
          buf = "";
          times[i++] = Number(t1 - t0) / 1000;
          if (i < count) send();
          else {
            onReply = null;
            done(times);
          }
        };
        send();
      });
    }
  });
}

/**
 * What vm's `timeout` option costs one evaluation (it runs a watchdog thread per call).
 * threaded:false evaluates with it; threaded mode does not (its worker watches instead).
 */
function vmTimeoutCost() {
  const script = new vm.Script("1+1");
  const median = (opts) => {
    const t = new Float64Array(2000);
    for (let i = 0; i < t.length; i++) {
      const a = process.hrtime.bigint();
      script.runInThisContext(opts);
      t[i] = Number(process.hrtime.bigint() - a) / 1000;
    }
    t.sort();
    return t[t.length >> 1];
  };
  median({});
  median({ timeout: 5000 });
  return median({ timeout: 5000 }) - median({});
}

function fmtUs(us) {
  return Math.abs(us) >= 100 ? us.toFixed(0) : us.toFixed(1);
}
function ratio(a, b) {
  return `${(a / b).toFixed(2)}×`;
}

async function main() {
  if (!fs.existsSync(AGENT)) throw new Error(`${AGENT} is missing: run \`npm run build\` first`);
  const dir = privateTempDir("manhole-bench-rt-");
  const env = { MANHOLE_DIR: dir };

  for (const t of TARGETS) {
    t.path = path.join(dir, `${t.key}.sock`);
    const file = t.command ? t.file : path.join(SERVERS, t.file);
    await startChild(file, [t.path, ...t.args], { env, ...(t.command ? { command: t.command } : {}) });
    t.client = await connect(t.path, t);
    t.samples = [];
  }
  for (const t of TARGETS) await t.client.roundTrips(WARMUP);

  const per = Math.ceil(N / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < TARGETS.length; k++) {
      const t = TARGETS[(k + r) % TARGETS.length]; // rotate the order every round
      const times = await t.client.roundTrips(per);
      for (const x of times) t.samples.push(x);
    }
  }

  for (const t of TARGETS) {
    t.client.socket.end();
    const s = t.samples.sort((a, b) => a - b);
    t.p50 = percentile(s, 50);
    t.p99 = percentile(s, 99);
    t.mean = s.reduce((a, b) => a + b, 0) / s.length;
  }
  const [echo, repl, threaded, inline, structured, structuredInline, bareRelay] = TARGETS;

  console.log("Round trip of evaluating 1+1 over a Unix socket");
  console.log(`  (a)-(d) human line mode: "1+1\\n" -> "2\\n<prompt>" ((a) echoes "1+1\\n")`);
  console.log(`  (e)-(g) structured mode: {"op":"eval","id":N,"code":"1+1"} -> {"op":"value","id":N,"text":"2","json":2}`);
  console.log("  (g) is no manhole: a worker thread reads the socket, the main thread evaluates, nothing else");
  console.log(`${machine()}`);
  console.log(`${per * ROUNDS} round trips per target (after ${WARMUP} warm-up), ${ROUNDS} interleaved rounds; ratios are p50 / p99\n`);
  table(
    ["target", "p50 µs", "p99 µs", "mean µs", "vs raw echo", "vs node repl"],
    TARGETS.map((t) => [
      t.label,
      fmtUs(t.p50),
      fmtUs(t.p99),
      fmtUs(t.mean),
      `${ratio(t.p50, echo.p50)} / ${ratio(t.p99, echo.p99)}`,
      `${ratio(t.p50, repl.p50)} / ${ratio(t.p99, repl.p99)}`,
    ]),
  );

  const d50 = threaded.p50 - inline.p50;
  const d99 = threaded.p99 - inline.p99;
  console.log(
    `\nRelay cost (c - d): p50 ${d50 >= 0 ? "+" : ""}${fmtUs(d50)} µs, p99 ${d99 >= 0 ? "+" : ""}${fmtUs(d99)} µs` +
      ` -> target "relay adds at most ${RELAY_TARGET_US} µs" (on p50): ${d50 <= RELAY_TARGET_US ? "MET" : "NOT MET"}`,
  );
  const wd = vmTimeoutCost();
  console.log(
    `Caveat: (d) evaluates with vm's timeout watchdog (measured here: +${fmtUs(wd)} µs per evaluation) and (c) does not,` +
      `\nso c - d understates the relay by about that much: relay alone ≈ p50 ${d50 + wd >= 0 ? "+" : ""}${fmtUs(d50 + wd)} µs` +
      ` -> ${d50 + wd <= RELAY_TARGET_US ? "still MET" : "NOT MET"} on that reading.`,
  );

  // The targets, against the design's floor (g) in this same run.
  const verdict = (ok) => (ok ? "MET" : "NOT MET");
  const p50Ratio = structured.p50 / bareRelay.p50;
  const p99Ratio = structured.p99 / bareRelay.p99;
  const humanVsStructured = threaded.p50 / structured.p50;
  console.log(
    `\nStructured (e) vs the bare worker relay (g), the design's floor:` +
      `\n  p50 ${fmtUs(structured.p50)} / ${fmtUs(bareRelay.p50)} µs = ${p50Ratio.toFixed(2)}× -> target at most ${FLOOR_P50}×: ${verdict(p50Ratio <= FLOOR_P50)}` +
      `\n  p99 ${fmtUs(structured.p99)} / ${fmtUs(bareRelay.p99)} µs = ${p99Ratio.toFixed(2)}× -> target at most ${FLOOR_P99}×: ${verdict(p99Ratio <= FLOOR_P99)}` +
      `\nHuman line mode (c) vs structured (e), p50: ${humanVsStructured.toFixed(2)}× -> target within ${HUMAN_WITHIN * 100}%: ${verdict(Math.abs(humanVsStructured - 1) <= HUMAN_WITHIN)}`,
  );
  record("structured p50 / relay p50", Number(p50Ratio.toFixed(3)));
  record("structured p99 / relay p99", Number(p99Ratio.toFixed(3)));
  record("human p50 / structured p50", Number(humanVsStructured.toFixed(3)));
  for (const t of TARGETS) record(`${t.key} p50 µs`, Number(t.p50.toFixed(1)));
  const base = TARGETS.find((t) => t.key === "b-s-threaded");
  const baseHuman = TARGETS.find((t) => t.key === "b-threaded");
  if (base && baseHuman) {
    console.log(
      `\nThis build vs BENCH_BASELINE, p50: structured ${ratio(structured.p50, base.p50)} (${fmtUs(structured.p50)} vs ${fmtUs(base.p50)} µs),` +
        ` human ${ratio(threaded.p50, baseHuman.p50)} (${fmtUs(threaded.p50)} vs ${fmtUs(baseHuman.p50)} µs)`,
    );
    record("structured p50 / baseline", Number((structured.p50 / base.p50).toFixed(3)));
    record("human p50 / baseline", Number((threaded.p50 / baseHuman.p50).toFixed(3)));
  }
  const sign = (x) => `${x >= 0 ? "+" : ""}${fmtUs(x)}`;
  console.log(
    `Structured vs human line mode on the same agent, p50: threaded ${sign(structured.p50 - threaded.p50)} µs (e - c),` +
      ` threaded:false ${sign(structuredInline.p50 - inline.p50)} µs (f - d)`,
  );
  const peers = TARGETS.filter((t) => t.command);
  if (peers.length) {
    console.log("\nPython peers, by the same client in the same rounds, against manhole's human line mode (c):");
    for (const t of peers) {
      console.log(
        `  ${t.label}: p50 ${fmtUs(t.p50)} µs, p99 ${fmtUs(t.p99)} µs; manhole (c) is ${ratio(threaded.p50, t.p50)} its p50 and ${ratio(threaded.p99, t.p99)} its p99`,
      );
      record(`${t.key} p50 us`, Number(t.p50.toFixed(1)));
      record(`${t.key} p99 us`, Number(t.p99.toFixed(1)));
      record(`manhole human p50 / ${t.key} p50`, Number((threaded.p50 / t.p50).toFixed(3)));
    }
    console.log(
      "  Where they are faster, it is the thread hop: aiomanhole evaluates in the app's own event loop and python-manhole" +
        "\n  in a thread of the same interpreter, so neither crosses a thread boundary. aiomanhole cannot answer while the" +
        "\n  loop is blocked; python-manhole can only between the blocked code's bytecodes, and neither can stop it.",
    );
  }
  for (const note of peerNotes) console.log(`\n${note}`);
  console.log(
    `For reference: the raw echo (a) is ${fmtUs(echo.p50)} µs and node:repl (b) ${fmtUs(repl.p50)} µs p50; the floor (g) alone is ${ratio(bareRelay.p50, echo.p50)} the echo.`,
  );
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
