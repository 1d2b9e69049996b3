// .profile and .heap against a real app (test/fixtures/profile-app.cjs): the .cpuprofile and the
// heap snapshot as files, through the CLI (streamed as artifact frames, written on the operator's
// side), through nc (written on the app's side), and through a raw structured client that
// interrupts, leaves mid-way or reads slowly; the flame graph rendered in a real headless Chromium.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { tool, toolPath, toolProblem } from "../scripts/test-tools.mjs";
import { connect, httpGetWithin, MODES, nc, ROOT, runClient, startApp, tempDir } from "./helpers.mjs";
import { checkShape as check, SHAPES } from "./protocol-shapes.mjs";

const FIXTURE = path.join(ROOT, "test", "fixtures", "profile-app.cjs");
const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const MB = 1024 * 1024;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const cli = (args, opts) => runClient(process.execPath, [MAIN, ...args], "", { timeout: 120_000, ...opts });

/** A raw structured session: requests, and every reply of one request collected (artifact frames assembled). */
async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  let id = 1;
  return {
    c,
    send(body) {
      const my = ++id;
      c.send(`${JSON.stringify({ ...body, id: my })}\n`);
      return my;
    },
    /** The next reply line. */
    async next(ms = 120_000) {
      return JSON.parse(await c.until("\n", ms));
    },
    /** Replies until the final one of request `my` (others go to `others`); artifact chunks are joined into `bytes`. */
    async finish(onReply = () => {}, my = id) {
      const out = [];
      const others = [];
      const chunks = [];
      const frames = [];
      for (;;) {
        const reply = await this.next();
        await onReply(reply);
        if (reply.op === "out") out.push(reply.text);
        else if (reply.op === "artifact") {
          frames.push({ ...reply, data: undefined });
          if (reply.phase === "chunk") chunks.push(Buffer.from(reply.data, "base64"));
        } else if (reply.id !== my) others.push(reply);
        else return { reply, out: out.join(""), frames, bytes: Buffer.concat(chunks), others };
      }
    },
  };
}

/** Evaluates `code` in a fresh nc session and returns what it printed (banner: null). */
async function evalNc(app, code) {
  const r = await nc(app.path, `${code}\n`, { timeout: 60_000 });
  return r.stdout
    .replace(/^>>> /, "")
    .replace(/\n>>> $/, "")
    .trim();
}

/** A number the app prints (the last one of its answer: a notice may come before it). */
async function numberNc(app, code) {
  const text = await evalNc(app, code);
  const m = /(\d+(?:\.\d+)?)\s*$/.exec(text);
  assert.ok(m, `${code} answered ${JSON.stringify(text)}`);
  return Number(m[1]);
}

/** The temp files artifacts leave while they are made (none must remain). */
const partFiles = (dir) => fs.readdirSync(dir).filter((f) => f.endsWith(".part"));

/**
 * A fresh memory cgroup below this process's own (v2 where its memory controller is on, else
 * v1's), to put an app in with a limit; null where none can be made (not root, no controller).
 */
function childCgroup() {
  const lines = fs.readFileSync("/proc/self/cgroup", "utf8").split("\n");
  const kinds = [];
  const v2 = lines.find((l) => l.startsWith("0::"));
  if (v2) kinds.push({ parent: path.join("/sys/fs/cgroup", v2.slice(3)), limit: "memory.max", usage: "memory.current" });
  const v1 = lines.map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m?.[1].split(",").includes("memory"));
  if (v1) kinds.push({ parent: path.join("/sys/fs/cgroup/memory", v1[2]), limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes" });
  for (const kind of kinds) {
    const dir = path.join(kind.parent, `manhole-test-${process.pid}`);
    try {
      fs.mkdirSync(dir);
    } catch {
      continue;
    }
    if (!fs.existsSync(path.join(dir, kind.limit))) {
      fs.rmdirSync(dir);
      continue;
    }
    const remove = () => {
      // Empty once the app has exited; a process still in it would keep it.
      for (let i = 0; i < 50; i++) {
        try {
          fs.rmdirSync(dir);
          return;
        } catch {
          spawnSync("sleep", ["0.1"]);
        }
      }
    };
    return { dir, limit: kind.limit, usage: kind.usage, remove };
  }
  return null;
}

function hottestSelf(profile) {
  const self = new Map();
  for (const [i, id] of profile.samples.entries()) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
  const byName = new Map();
  for (const n of profile.nodes) {
    const name = n.callFrame.functionName;
    if (/^\(/.test(name) || name === "") continue;
    byName.set(name, (byName.get(name) ?? 0) + (self.get(n.id) ?? 0));
  }
  return [...byName.entries()].sort((a, b) => b[1] - a[1])[0][0];
}

function checkCpuProfile(profile, summary = "") {
  assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 1, "nodes");
  assert.ok(Array.isArray(profile.samples) && profile.samples.length > 10, "samples");
  assert.equal(profile.timeDeltas.length, profile.samples.length, "one time delta per sample");
  assert.ok(profile.endTime > profile.startTime);
  assert.equal(hottestSelf(profile), "busyHotFunction", summary);
}

/** Waits until `app` answers HTTP and evaluates again. */
async function healthy(app) {
  assert.match(await httpGetWithin(app.port, 60_000), /ok/);
  assert.equal(await evalNc(app, "6 * 7"), "42");
}

for (const mode of MODES) {
  describe(`.profile (${mode})`, () => {
    let app;
    before(async () => {
      app = await startApp({ mode, script: FIXTURE });
      assert.equal(await evalNc(app, "startBusy()"), "'busy'");
    });
    after(() => app?.stop());

    test("manhole profile writes a .cpuprofile whose hottest function is the busy one, a summary and a flame graph", async () => {
      const dir = tempDir();
      const file = path.join(dir, "app.cpuprofile");
      const flame = path.join(dir, "flame.html");
      const r = await cli(["profile", app.path, "--seconds", "2", "-o", file, "--flame", flame]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /profiling the main thread for 2\.0 s, one sample every 1000 µs; this costs the app/);
      const profile = JSON.parse(fs.readFileSync(file, "utf8"));
      checkCpuProfile(profile, r.stdout);
      assert.equal((fs.statSync(file).mode & 0o777).toString(8), "600");
      // The summary: self and total tables, busyHotFunction with its file:line on top of the self one.
      assert.match(r.stdout, /top \d+ by self time:\n.*\n.*busyHotFunction \(.*profile-app\.cjs:\d+:\d+\)/);
      assert.match(r.stdout, /top \d+ by total time:/);
      const sha = crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
      assert.ok(r.stdout.includes(`wrote ${file} (`) && r.stdout.includes(sha), r.stdout);
      assert.match(r.stdout, new RegExp(`flame graph: ${flame}`));
      assert.match(fs.readFileSync(flame, "utf8"), /busyHotFunction/);
      assert.deepEqual(partFiles(app.dir), []);
      assert.deepEqual(partFiles(dir), []);
      // --flame x.svg: the static SVG instead.
      const svg = path.join(dir, "flame.svg");
      const s = await cli(["profile", app.path, "--seconds", "1", "-o", path.join(dir, "b.cpuprofile"), "--flame", svg]);
      assert.equal(s.code, 0, s.stderr);
      assert.match(fs.readFileSync(svg, "utf8"), /^<\?xml[\s\S]*<svg [\s\S]*<title>busyHotFunction [^<]*profile-app\.cjs:\d+:\d+/);
    });

    test("in nc the file is written on the app's side, 0600, and its path and size said", async () => {
      const r = await nc(app.path, ".profile 1\n", { timeout: 60_000 });
      const m = /wrote (\S+\.cpuprofile) \(([\d.]+ \w+), mode 0600\)/.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.equal(path.dirname(m[1]), app.dir, "in the runtime directory");
      assert.equal((fs.statSync(m[1]).mode & 0o777).toString(8), "600");
      checkCpuProfile(JSON.parse(fs.readFileSync(m[1], "utf8")));
      assert.match(r.stdout, /top \d+ by self time:/);
      const given = path.join(tempDir(), "given.cpuprofile");
      const r2 = await nc(app.path, `.profile 1 --output ${given}\n`, { timeout: 60_000 });
      assert.ok(r2.stdout.includes(`wrote ${given} (`), r2.stdout);
      checkCpuProfile(JSON.parse(fs.readFileSync(given, "utf8")));
      fs.rmSync(m[1]);
    });

    test("a structured interrupt stops it early and still delivers what was sampled", async () => {
      const s = await structured(app);
      const my = s.send({ op: "command", name: "profile", args: { seconds: "60s" } });
      let interrupted = false;
      const { reply, frames, bytes, others } = await s.finish(async (r) => {
        if (r.op === "out" && !interrupted) {
          interrupted = true;
          await sleep(1000);
          s.send({ op: "interrupt" });
        }
      }, my);
      assert.equal(reply.op, "result", JSON.stringify(reply));
      check(SHAPES.profile, reply.json);
      assert.equal(reply.json.stoppedEarly, true);
      assert.match(reply.text, /stopped early after/);
      assert.deepEqual(
        frames.map((f) => f.phase),
        ["start", ...frames.slice(1, -1).map(() => "chunk"), "end"],
      );
      const [start, end] = [frames[0], frames.at(-1)];
      assert.equal(start.mediaType, "application/json");
      assert.match(start.name, /^profile-\d+-\d{8}T\d{6}Z\.cpuprofile$/);
      assert.equal(start.size, bytes.length);
      assert.equal(end.size, bytes.length);
      assert.equal(end.sha256, crypto.createHash("sha256").update(bytes).digest("hex"));
      checkCpuProfile(JSON.parse(bytes.toString("utf8")));
      assert.deepEqual(others, [{ op: "result", id: my + 1, text: "interrupted" }], "the interrupt's own answer");
      s.c.destroy();
    });

    test("a second heavy operation is told which one runs, and for how long", async () => {
      const s = await structured(app);
      const my = s.send({ op: "command", name: "profile", args: { seconds: "60s" } });
      assert.equal((await s.next()).op, "out");
      const r = await runClient("nc", ["-N", "-U", app.path], ".profile 1\n", { timeout: 30_000 });
      assert.match(
        r.stdout,
        /\.profile: \.profile has been running for \d+(\.\d)? (ms|s) \(one heavy operation at a time; try again when it ends\)/,
      );
      s.send({ op: "interrupt" });
      assert.equal((await s.finish(undefined, my)).reply.op, "result");
      s.c.destroy();
    });

    test("a client killed mid-profile leaves the app healthy, no temp file, and the next profile works", async () => {
      const s = await structured(app);
      s.send({ op: "command", name: "profile", args: { seconds: "60s" } });
      assert.equal((await s.next()).op, "out");
      s.c.destroy();
      await healthy(app);
      const r = await cli(["profile", app.path, "--seconds", "1", "-o", path.join(tempDir(), "next.cpuprofile")]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(partFiles(app.dir), []);
    });

    test("Ctrl-C to manhole profile stops it early and writes what was sampled", async () => {
      const file = path.join(tempDir(), "ctrl-c.cpuprofile");
      const child = spawn(process.execPath, [MAIN, "profile", app.path, "--seconds", "60", "-o", file], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      let stdout = "";
      child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
      const exited = new Promise((resolve) => child.on("exit", resolve));
      await new Promise((resolve) =>
        child.stderr.setEncoding("utf8").on("data", (d) => {
          stderr += d;
          if (/profiling the main thread/.test(stderr)) resolve();
        }),
      );
      await sleep(1000);
      child.kill("SIGINT");
      // Cut short by Ctrl-C (130), with what was sampled delivered all the same.
      assert.equal(await exited, 130, stderr);
      assert.match(stdout, /stopped early after/);
      checkCpuProfile(JSON.parse(fs.readFileSync(file, "utf8")));
    });

    test("bad arguments get a clear answer and the app carries on", async () => {
      const r = await nc(app.path, ".profile soon\n.profile 0\n.profile 1 --interval 5\n.profile --bogus\n", { timeout: 30_000 });
      assert.match(r.stdout, /\.profile: seconds must be a duration such as 500ms, 5s or 2m, not "soon"/);
      assert.match(r.stdout, /\.profile: seconds must be more than 0/);
      assert.match(r.stdout, /\.profile: interval must be a whole number of microseconds from 10 to 1000000/);
      assert.match(r.stdout, /\.profile: unknown option --bogus/);
      const c = await cli(["profile", app.path, "--flame"]);
      assert.equal(c.code, 2);
      assert.match(c.stderr, /option --flame needs a value/);
      await healthy(app);
    });
  });
}

describe("the flame graph in a real headless Chromium", () => {
  const problem = toolProblem(tool("chromium"));
  test("renders frames named after the hottest function, as wide as its time", { skip: problem && `chromium ${problem}` }, async () => {
    const app = await startApp({ script: FIXTURE });
    try {
      assert.equal(await evalNc(app, "startBusy()"), "'busy'");
      const dir = tempDir();
      const flame = path.join(dir, "flame.html");
      const r = await cli(["profile", app.path, "--seconds", "2", "-o", path.join(dir, "p.cpuprofile"), "--flame", flame]);
      assert.equal(r.code, 0, r.stderr);
      const profile = await new Promise((resolve, reject) => {
        const chrome = spawn(
          toolPath(tool("chromium")),
          [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            `--user-data-dir=${tempDir()}`,
            "--window-size=1400,900",
            "--dump-dom",
            `file://${flame}`,
          ],
          { stdio: ["ignore", "pipe", "ignore"] },
        );
        let dom = "";
        chrome.stdout.setEncoding("utf8").on("data", (d) => (dom += d));
        chrome.on("error", reject);
        chrome.on("exit", () => resolve(dom));
      });
      // The DOM after the page's script ran: one box per frame, placed and sized.
      const frames = [
        ...profile.matchAll(
          /<div class="frame[^"]*" title="([^"]*)" data-name="([^"]*)" data-total="(\d+)" style="([^"]*)">([^<]*)<\/div>/g,
        ),
      ].map((m) => ({ name: m[2], text: m[5], width: Number(/width: ([\d.]+)%/.exec(m[4])?.[1]), title: m[1] }));
      assert.ok(frames.length > 3, `frames rendered: ${profile.slice(0, 500)}`);
      const hot = frames.filter((f) => f.name === "busyHotFunction");
      assert.ok(hot.length >= 1, "a frame for busyHotFunction");
      assert.equal(hot[0].text, "busyHotFunction");
      assert.ok(hot[0].width > 30, `busyHotFunction is wide: ${hot[0].width}%`);
      assert.match(hot[0].title, /profile-app\.cjs:\d+:\d+\ntotal [\d.]+ m?s \([\d.]+%\), self/);
      assert.equal(frames[0].name, "all");
      assert.equal(frames[0].width, 100);
      // And a picture: a screenshot of the page is a real PNG with more than one colour in it.
      const png = path.join(dir, "flame.png");
      spawnSync(
        toolPath(tool("chromium")),
        [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          `--user-data-dir=${tempDir()}`,
          "--window-size=1400,900",
          `--screenshot=${png}`,
          `file://${flame}`,
        ],
        { stdio: "ignore", timeout: 60_000 },
      );
      const bytes = fs.readFileSync(png);
      assert.equal(bytes.subarray(1, 4).toString(), "PNG");
      assert.ok(bytes.length > 5000, `a screenshot with content (${bytes.length} bytes)`);
    } finally {
      await app.stop();
    }
  });
});

describe(".heap", () => {
  for (const mode of MODES) {
    test(`a snapshot parses and holds the marker the app allocated (${mode})`, async () => {
      const app = await startApp({ mode, script: FIXTURE });
      try {
        const dir = tempDir();
        const file = path.join(dir, "app.heapsnapshot");
        // Not on a terminal and without --yes: the estimate, and nothing taken.
        const ask = await cli(["heap", app.path, "-o", file]);
        assert.equal(ask.code, 1);
        assert.match(
          ask.stderr,
          /a heap snapshot of [\d.]+ \w+ used heap freezes the app for its whole duration \(about [\d.]+-[\d.]+ s here\) and needs about [\d.]+ \w+ more memory/,
        );
        assert.match(ask.stderr, /not confirmed \(no terminal to ask on\): pass --yes to go ahead/);
        assert.equal(fs.existsSync(file), false);
        const r = await cli(["heap", app.path, "--yes", "-o", file]);
        assert.equal(r.code, 0, r.stderr);
        // Progress while it builds: from the worker only (on the snapshot's own thread it would crash V8).
        if (mode === "threaded") assert.match(r.stderr, /building the snapshot: 100%/);
        assert.match(r.stdout, /the app was frozen for [\d.]+ m?s/);
        const snap = JSON.parse(fs.readFileSync(file, "utf8"));
        assert.ok(snap.snapshot.meta.node_fields.includes("name"));
        assert.ok(snap.nodes.length > 1000 && snap.strings.length > 100);
        assert.ok(snap.strings.includes("ManholeHeapMarker"), "the marker's class");
        assert.ok(snap.strings.includes("marker-7c1e9b"), "the marker's string");
        assert.deepEqual(partFiles(app.dir), []);
        // In nc: on the app's side, path and size said.
        const h = await nc(app.path, ".heap --yes\n", { timeout: 60_000 });
        const m = /wrote (\S+\.heapsnapshot) \([\d.]+ \w+, mode 0600\)/.exec(h.stdout);
        assert.ok(m, h.stdout);
        assert.equal(path.dirname(m[1]), app.dir);
        assert.ok(JSON.parse(fs.readFileSync(m[1], "utf8")).strings.includes("ManholeHeapMarker"));
      } finally {
        await app.stop();
      }
    });
  }

  test("refused when the app's own cgroup leaves too little memory, with the limit named; --force goes past it", async (t) => {
    const cg = childCgroup();
    if (!cg) {
      t.skip("no memory cgroup this test may make (it needs root and a cgroup v1 or v2 memory controller)");
      return;
    }
    const app = await startApp({ script: FIXTURE });
    try {
      const heapUsed = Number((await nc(app.path, "process.memoryUsage().heapUsed\n")).stdout.match(/\d+/)?.[0]);
      fs.writeFileSync(path.join(cg.dir, "cgroup.procs"), String(app.child.pid));
      // Room for half of what a snapshot needs (7 bytes per byte of heap), and never under 16 MB.
      const used = Number(fs.readFileSync(path.join(cg.dir, cg.usage), "utf8"));
      const limit = used + Math.max(16 * MB, Math.round((heapUsed * 7) / 2));
      fs.writeFileSync(path.join(cg.dir, cg.limit), String(limit));
      const r = await nc(app.path, ".heap\n.heap --force\n", { timeout: 60_000 });
      assert.match(
        r.stdout,
        /\.heap: refused: it needs about [\d.]+ MiB more memory, and only [\d.]+ MiB is available \(the cgroup's limit is [\d.]+ MiB\): the app could be killed for it\.\n\(a heap snapshot of .*; --force takes it anyway\)/,
      );
      assert.match(r.stdout, /Forced past: it needs about [\d.]+ MiB more memory.*\nNot taken yet: confirm with \.heap --yes --force/);
      assert.deepEqual(
        fs.readdirSync(app.dir).filter((f) => /heapsnapshot/.test(f)),
        [],
      );
      assert.match(await httpGetWithin(app.port, 5000), /ok/);
    } finally {
      await app.stop();
      cg.remove();
    }
  });

  test("observe-only: .profile runs, .heap is refused (a snapshot holds every value)", async () => {
    const app = await startApp({ script: FIXTURE, options: { observeOnly: true } });
    try {
      const r = await nc(app.path, `.heap --yes\n.profile 500ms\n.profile 500ms --output ${path.join(app.dir, "x")}\n`, {
        timeout: 60_000,
      });
      assert.match(r.stdout, /Refused: this manhole is observe-only/);
      assert.match(r.stdout, /\.profile: output= is refused in observe-only mode/);
      assert.match(r.stdout, /wrote \S+\.cpuprofile/);
      assert.deepEqual(
        fs.readdirSync(app.dir).filter((f) => /heapsnapshot/.test(f)),
        [],
      );
    } finally {
      await app.stop();
    }
  });

  test("--sample: a sampling heap profile with its top allocators", async () => {
    const app = await startApp({ script: FIXTURE });
    try {
      await evalNc(app, "setInterval(() => grow(2000), 20), 1");
      const file = path.join(tempDir(), "a.heapprofile");
      const r = await cli(["heap", app.path, "--sample", "--seconds", "2", "-o", file]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /sampled allocations over 2\.0 s: [\d.]+ \w+ sampled; top \d+ allocating functions \(self\):/);
      assert.match(r.stdout, /grow \(.*profile-app\.cjs:\d+:\d+\)/);
      const profile = JSON.parse(fs.readFileSync(file, "utf8"));
      assert.ok(profile.head.callFrame && Array.isArray(profile.samples));
    } finally {
      await app.stop();
    }
  });

  test("a client killed mid-snapshot leaves the app healthy and no file behind", async () => {
    const app = await startApp({ script: FIXTURE });
    try {
      await evalNc(app, "grow(300000)");
      const s = await structured(app);
      // Without yes: nothing taken, and a confirmation asked for.
      s.send({ op: "command", name: "heap" });
      const ask = await s.finish();
      assert.deepEqual(ask.reply.confirm, { question: "Take the heap snapshot now, freezing the app?", arg: "yes" });
      assert.equal(ask.reply.json.taken, false);
      check(SHAPES.heap, ask.reply.json);
      assert.deepEqual(ask.frames, []);
      s.send({ op: "command", name: "heap", args: { yes: true } });
      for (;;) {
        const r = await s.next();
        if (r.op === "out" && /building the snapshot/.test(r.text)) break;
      }
      s.c.destroy();
      await healthy(app);
      // The heavy slot is free again once the snapshot the main thread was building has ended.
      for (;;) {
        const r = await nc(app.path, ".heap\n", { timeout: 60_000 });
        if (/Not taken yet/.test(r.stdout)) break;
        assert.match(r.stdout, /\.heap has been running/);
        await sleep(200);
      }
      assert.deepEqual(
        fs.readdirSync(app.dir).filter((f) => /heapsnapshot|\.part$/.test(f)),
        [],
      );
    } finally {
      await app.stop();
    }
  });

  test("a snapshot of over 100 MB streams with the app's and the CLI's RSS growing less than 64 MB", async (t) => {
    const app = await startApp({ script: FIXTURE });
    try {
      await evalNc(app, "grow(550000)");
      const dir = tempDir();
      const file = path.join(dir, "big.heapsnapshot");
      const child = spawn(process.execPath, [MAIN, "heap", app.path, "--yes", "-o", file], { stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
      const exited = new Promise((resolve) => child.on("exit", resolve));
      const rss = () => {
        try {
          return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) * 1024;
        } catch {
          return 0;
        }
      };
      // The stream starts when the CLI opens its .part file: the baselines are taken then.
      while (!fs.existsSync(`${file}.part`)) {
        assert.equal(child.exitCode, null, stderr);
        await sleep(20);
      }
      const cliStart = rss();
      const appStart = await numberNc(app, "resetRssPeak()");
      let cliPeak = cliStart;
      let code;
      const done = exited.then((c) => {
        code = c;
      });
      while (code === undefined) {
        cliPeak = Math.max(cliPeak, rss());
        await Promise.race([done, sleep(10)]);
      }
      assert.equal(code, 0, stderr);
      const appPeak = await numberNc(app, "rssPeak");
      const size = fs.statSync(file).size;
      assert.ok(size >= 100 * MB, `the snapshot is ${size} bytes`);
      assert.ok(
        cliPeak - cliStart < 64 * MB,
        `the CLI grew ${((cliPeak - cliStart) / MB).toFixed(1)} MB while receiving ${(size / MB) | 0} MB`,
      );
      assert.ok(appPeak - appStart < 64 * MB, `the app grew ${((appPeak - appStart) / MB).toFixed(1)} MB while sending`);
      // A slow reader: pauses for a second after every 16 MB. The app must wait for it, not buffer.
      const s = await structured(app);
      const my = s.send({ op: "command", name: "heap", args: { yes: true } });
      let got = 0;
      let nextPause = 16 * MB;
      let base;
      const { reply, frames } = await s.finish(async (r) => {
        if (r.op !== "artifact" || r.phase !== "chunk") return;
        if (base === undefined) base = await numberNc(app, "resetRssPeak()");
        got += (r.data.length * 3) / 4;
        if (got >= nextPause) {
          nextPause += 16 * MB;
          s.c.socket.pause();
          await sleep(1000);
          s.c.socket.resume();
        }
      }, my);
      assert.equal(reply.op, "result");
      check(SHAPES.heap, reply.json);
      assert.equal(reply.json.taken, true);
      assert.ok(frames.at(-1).size >= 100 * MB);
      const slowPeak = await numberNc(app, "rssPeak");
      const mb = (n) => (n / MB).toFixed(1);
      t.diagnostic(
        `${mb(size)} MB snapshot: CLI RSS +${mb(cliPeak - cliStart)} MB, app RSS +${mb(appPeak - appStart)} MB; slow reader: app RSS +${mb(slowPeak - base)} MB`,
      );
      assert.ok(slowPeak - base < 64 * MB, `the app grew ${((slowPeak - base) / MB).toFixed(1)} MB with a slow reader`);
      s.c.destroy();
      assert.deepEqual(partFiles(app.dir), []);
    } finally {
      await app.stop();
    }
  });
});
