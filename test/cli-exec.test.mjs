// `manhole ls` and `manhole exec` against real child processes, and each of the CLI's error exit codes.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { MODES, ROOT, runClient, startApp, tempDir } from "./helpers.mjs";

const CLI = path.join(ROOT, "dist", "cli", "main.js");

/** Runs `manhole <args>` with MANHOLE_DIR=`dir` (and `input` on stdin); resolves to { stdout, stderr, code }. */
function cli(args, { dir, input = "", prefix = [], cliPath = CLI } = {}) {
  const [cmd, ...pre] = prefix.length ? [...prefix, process.execPath] : [process.execPath];
  // Another user cannot write this user's coverage files (npm run test:coverage).
  const env = { NO_COLOR: "1", ...(dir ? { MANHOLE_DIR: dir } : {}), ...(prefix.length ? { NODE_V8_COVERAGE: undefined } : {}) };
  return runClient(cmd, [...pre, cliPath, ...args], input, { timeout: 20_000, env }).then(({ stdout, stderr, code }) => ({
    stdout,
    stderr,
    code,
  }));
}

/** A process that listens on `socket`, then is killed: leaves the socket file behind, and a dead pid. */
async function deadListener(socket) {
  const child = spawn(process.execPath, ["-e", "require('net').createServer().listen(process.argv[1], () => console.log('up'))", socket], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve) => child.stdout.once("data", resolve));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  child.kill("SIGKILL");
  await exited;
  assert.ok(fs.existsSync(socket), "a killed listener leaves its socket file");
  return child.pid;
}

function startTicks(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return null;
  }
}

function writeDescriptor(file, fields) {
  const d = {
    pid: 0,
    ppid: 1,
    startTime: new Date().toISOString(),
    startTicks: null,
    argv: ["node", "gone.js"],
    cwd: "/",
    node: process.version,
    app: null,
    socket: "",
    protocol: 1,
    threaded: true,
    ...fields,
  };
  fs.writeFileSync(file, JSON.stringify(d), { mode: 0o600 });
}

/** A fake agent on a Unix socket: `onHello(socket, line)` decides what to answer (or not). */
async function fakeAgent(onHello) {
  const dir = tempDir();
  const sock = path.join(dir, "fake.sock");
  const server = net.createServer((s) => {
    s.on("error", () => {});
    let buf = "";
    s.setEncoding("utf8").on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) onHello(s, buf);
    });
  });
  await new Promise((resolve) => server.listen(sock, resolve));
  return { sock, close: () => new Promise((resolve) => server.close(resolve)) };
}

test("ls and exec --help describe their options", async () => {
  const ls = await cli(["ls", "--help"]);
  assert.equal(ls.code, 0);
  assert.match(ls.stdout, /^Usage: manhole ls \[--tree\] \[--app <name>\] \[--json\]/);
  const exec = await cli(["exec", "--help"]);
  assert.equal(exec.code, 0);
  assert.match(exec.stdout, /^Usage: manhole exec \[options\] <pid\|socket> <code>/);
  assert.match(exec.stdout, /--signal <SIG>/);
  const top = await cli(["--help"]);
  assert.match(top.stdout, /ls\s+list the live manholes/);
  assert.match(top.stdout, /exec\s+evaluate code/);
});

test("ls lists live manholes (table and --json) and removes stale entries", async () => {
  const dir = tempDir();
  const apps = [
    await startApp({ mode: "threaded", env: { MANHOLE_DIR: dir } }),
    await startApp({ mode: "inline", env: { MANHOLE_DIR: dir } }),
  ];
  try {
    // A dead process's descriptor and socket.
    const deadSock = path.join(dir, "99999999.sock");
    const deadPid = await deadListener(deadSock);
    const deadDesc = path.join(dir, `${deadPid}.json`);
    writeDescriptor(deadDesc, { pid: deadPid, socket: deadSock });
    // A socket file of a dead pid, without a descriptor.
    const orphanSock = path.join(dir, `${deadPid}.sock`);
    await deadListener(orphanSock);
    // A live pid (ours) whose start time does not match: the pid was reused.
    const reusedDesc = path.join(dir, `${process.pid}.json`);
    const ticks = startTicks(process.pid);
    if (ticks !== null)
      writeDescriptor(reusedDesc, { pid: process.pid, startTicks: ticks + 1, socket: path.join(dir, `${process.pid}.sock`) });
    // A live pid whose socket nobody listens on.
    const deafSock = path.join(dir, "deaf.sock");
    await deadListener(deafSock);
    const deafDesc = path.join(dir, `${process.pid}-2.json`);
    writeDescriptor(deafDesc, { pid: process.pid, startTicks: ticks, socket: deafSock });

    const { stdout, stderr, code } = await cli(["ls"], { dir });
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0], /^PID +UPTIME +NODE +APP +STATE +SOCKET$/);
    assert.equal(lines.length, 3, stdout);
    const sorted = [...apps].sort((a, b) => a.child.pid - b.child.pid);
    for (const [i, app] of sorted.entries()) {
      const cols = lines[i + 1].split(/ {2,}/);
      assert.equal(cols[0], String(app.child.pid));
      assert.match(cols[1], /^\d+(\.\d)?(ms|s)$/);
      assert.equal(cols[2], process.version);
      assert.equal(cols[3], "manhole@0.1.0");
      assert.equal(cols[4], "responsive");
      assert.equal(cols[5], app.path);
      assert.equal(lines[i + 1].indexOf(app.path), lines[0].indexOf("SOCKET"), "columns are aligned");
    }
    assert.doesNotMatch(stdout, /\x1b\[/, "no colours when not a terminal");
    for (const gone of [deadDesc, deadSock, orphanSock, deafDesc, deafSock, ...(ticks !== null ? [reusedDesc] : [])]) {
      assert.equal(fs.existsSync(gone), false, `${gone} was removed`);
    }
    for (const app of apps) assert.ok(fs.existsSync(app.path), "live sockets stay");

    const json = await cli(["ls", "--json"], { dir });
    assert.equal(json.code, 0);
    const list = JSON.parse(json.stdout);
    assert.deepEqual(
      list.map((e) => e.pid),
      sorted.map((a) => a.child.pid),
    );
    for (const [i, e] of list.entries()) {
      assert.equal(e.socket, sorted[i].path);
      assert.equal(e.state, "responsive");
      assert.equal(e.node, process.version);
      assert.equal(e.app, "manhole@0.1.0");
      assert.equal(typeof e.uptimeMs, "number");
      assert.ok(Array.isArray(e.argv));
    }
  } finally {
    for (const app of apps) await app.stop();
  }
});

test("ls in an empty or missing runtime directory prints nothing (and [] with --json)", async () => {
  const dir = path.join(tempDir(), "missing");
  assert.deepEqual(await cli(["ls"], { dir }), { stdout: "", stderr: "", code: 0 });
  assert.deepEqual(await cli(["ls", "--json"], { dir }), { stdout: "[]\n", stderr: "", code: 0 });
});

test("exec --all --parallel <n>: at most n processes at a time, rows in the same order", async () => {
  const dir = tempDir();
  const apps = await Promise.all([0, 1, 2, 3].map(() => startApp({ env: { MANHOLE_DIR: dir } })));
  try {
    const pids = apps.map((a) => a.child.pid).sort((a, b) => a - b);
    // Each evaluation holds its connection for 600 ms and says when it began and ended.
    const code = "const t0 = Date.now(); await new Promise((r) => setTimeout(r, 600)); [t0, Date.now()]";
    const spans = async (parallel) => {
      const r = await cli(["exec", "--all", "--json", ...(parallel ? ["--parallel", String(parallel)] : []), code], { dir });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(
        out.map((o) => o.pid),
        pids,
      );
      return out.map((o) => o.value);
    };
    /** The most evaluations running at one moment. */
    const most = (s) => Math.max(...s.map(([start]) => s.filter(([a, b]) => a <= start && start < b).length));
    assert.equal(most(await spans(1)), 1);
    assert.ok(most(await spans(2)) <= 2);
    assert.equal(most(await spans()), 4, "the default (8) runs the four at once");
    const bad = await cli(["exec", "--all", "--parallel", "0", "1"], { dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--parallel needs a positive integer/);
  } finally {
    for (const app of apps) await app.stop();
  }
});

for (const mode of MODES) {
  test(`exec (${mode}): output then result; a throw goes to stderr with exit 1; - reads stdin; --json`, async () => {
    const app = await startApp({ mode });
    const dir = app.dir;
    try {
      const pid = String(app.child.pid);
      const r = await cli(["exec", pid, 'console.log("hello"); appState.items.length'], { dir });
      assert.deepEqual(r, { stdout: "hello\n2\n", stderr: "", code: 0 });
      const byPath = await cli(["exec", app.path, "await Promise.resolve(6 * 7)"]);
      assert.deepEqual(byPath, { stdout: "42\n", stderr: "", code: 0 });

      const threw = await cli(["exec", pid, 'console.log("before"); throw new TypeError("boom")'], { dir });
      assert.equal(threw.code, 1);
      assert.equal(threw.stdout, "before\n");
      assert.match(threw.stderr, /^Uncaught TypeError: boom\n/);

      const stdin = await cli(["exec", pid, "-"], { dir, input: "const a = [1, 2, 3];\na.map((x) => x * 2)\n" });
      assert.deepEqual(stdin, { stdout: "[ 2, 4, 6 ]\n", stderr: "", code: 0 });

      const json = await cli(["exec", "--json", pid, 'console.log("out"); ({ n: 1, s: "x" })'], { dir });
      assert.equal(json.code, 0, json.stderr);
      assert.deepEqual(JSON.parse(json.stdout), {
        pid: app.child.pid,
        app: "manhole@0.1.0",
        ok: true,
        value: { n: 1, s: "x" },
        text: "{ n: 1, s: 'x' }",
        output: "out\n",
      });

      const jsonErr = await cli(["exec", "--json", pid, 'throw new RangeError("far")'], { dir });
      assert.equal(jsonErr.code, 1);
      const e = JSON.parse(jsonErr.stdout);
      assert.equal(e.ok, false);
      assert.equal(e.value, null);
      assert.equal(e.error.name, "RangeError");
      assert.equal(e.error.message, "far");
      assert.match(e.text, /^Uncaught RangeError: far/);
    } finally {
      await app.stop();
    }
  });
}

test("exec --timeout: an evaluation that outlasts it exits 7 with one line; the app lives on", async () => {
  const app = await startApp({ mode: "threaded" });
  try {
    const r = await cli(["exec", "--timeout", "300", String(app.child.pid), "blockEventLoop(3000)"], { dir: app.dir });
    assert.equal(r.code, 7);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^manhole: .*timed out after 300 ms\n$/);
    const after = await cli(["exec", app.path, "appState.items[0]"]);
    assert.deepEqual(after, { stdout: "'a'\n", stderr: "", code: 0 });
  } finally {
    await app.stop();
  }
});

test("exec --all: three apps at once, a row each; --json; exit 1 when one throws", async () => {
  const dir = tempDir();
  const apps = await Promise.all([
    startApp({ env: { MANHOLE_DIR: dir } }),
    startApp({ mode: "inline", env: { MANHOLE_DIR: dir } }),
    startApp({ env: { MANHOLE_DIR: dir } }),
  ]);
  try {
    const pids = apps.map((a) => a.child.pid).sort((a, b) => a - b);
    const r = await cli(["exec", "--all", "'pid ' + process.pid"], { dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = r.stdout.trimEnd().split("\n");
    assert.deepEqual(
      rows.map((row) => row.split(/ {2,}/)),
      pids.map((pid) => [String(pid), "manhole@0.1.0", `'pid ${pid}'`]),
    );

    const json = await cli(["exec", "--all", "--json", "process.pid"], { dir });
    assert.equal(json.code, 0);
    assert.deepEqual(
      JSON.parse(json.stdout).map((e) => [e.pid, e.ok, e.value, e.app]),
      pids.map((pid) => [pid, true, pid, "manhole@0.1.0"]),
    );

    const failing = await cli(["exec", "--all", `if (process.pid === ${pids[1]}) throw new Error("not me"); "fine"`], { dir });
    assert.equal(failing.code, 1);
    const lines = failing.stdout.trimEnd().split("\n");
    assert.match(lines[0], new RegExp(`^${pids[0]} +manhole@0\\.1\\.0 +'fine'$`));
    assert.match(lines[1], new RegExp(`^${pids[1]} +manhole@0\\.1\\.0 +Uncaught Error: not me`));
    assert.match(lines[2], new RegExp(`^${pids[2]} +manhole@0\\.1\\.0 +'fine'$`));
  } finally {
    for (const app of apps) await app.stop();
  }
  const none = await cli(["exec", "--all", "1"], { dir });
  assert.equal(none.code, 4);
  assert.match(none.stderr, /^manhole: no live manholes in .*\n$/);
});

for (const mode of MODES) {
  test(`exec --signal (${mode}): an app with activateOn listens only after the signal`, async () => {
    const app = await startApp({ mode, options: { activateOn: "SIGUSR2" } });
    try {
      const pid = String(app.child.pid);
      assert.equal(fs.existsSync(app.path), false, "no socket before the signal");
      const before = await cli(["exec", pid, "1"], { dir: app.dir });
      assert.equal(before.code, 4);
      const r = await cli(["exec", "--signal", "SIGUSR2", pid, "process.pid"], { dir: app.dir });
      assert.deepEqual(r, { stdout: `${pid}\n`, stderr: "", code: 0 });
      assert.ok(fs.existsSync(app.path));
      assert.ok(fs.existsSync(path.join(app.dir, `${pid}.json`)), "the descriptor is written on activation");
      // Already listening: no second signal (whose default action would end the app).
      const again = await cli(["exec", "--signal", "USR2", pid, "appState.items.length"], { dir: app.dir });
      assert.deepEqual(again, { stdout: "2\n", stderr: "", code: 0 });
      const ls = await cli(["ls", "--json"], { dir: app.dir });
      assert.deepEqual(
        JSON.parse(ls.stdout).map((e) => e.pid),
        [app.child.pid],
      );
    } finally {
      await app.stop();
    }
  });
}

test("activateOn keeps no process alive: an app that is done exits before any signal", async () => {
  const dir = tempDir();
  const code = `require(${JSON.stringify(path.join(ROOT, "dist", "agent", "index.js"))}).startManhole({ activateOn: "SIGUSR2" }).then((h) => console.log(h.path))`;
  const child = spawn(process.execPath, ["-e", code], { env: { ...process.env, MANHOLE_DIR: dir }, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  const exitCode = await new Promise((resolve) => child.on("exit", resolve));
  assert.equal(exitCode, 0);
  assert.equal(out, `${path.join(dir, `${child.pid}.sock`)}\n`);
  assert.deepEqual(fs.readdirSync(dir), [], "nothing was bound");
});

test("activateOn must name a catchable signal", async () => {
  await assert.rejects(startApp({ options: { activateOn: "SIGKILL" } }), /FAILED TypeError: manhole: option "activateOn"/);
  await assert.rejects(startApp({ options: { activateOn: "SIGNOPE" } }), /FAILED TypeError: manhole: option "activateOn"/);
});

test("exec errors: usage 2, no such process 3, no manhole 4", async () => {
  const dir = tempDir();
  const usage = await cli(["exec", "1234"], { dir });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^manhole: exec needs the <code>/);
  const badSignal = await cli(["exec", "--signal", "SIGNOPE", "1234", "1"], { dir });
  assert.equal(badSignal.code, 2);

  const deadPid = await deadListener(path.join(dir, "x.sock"));
  const noProcess = await cli(["exec", String(deadPid), "1"], { dir });
  assert.deepEqual(noProcess, { stdout: "", stderr: `manhole: no such process: ${deadPid}\n`, code: 3 });
  const noProcessSignal = await cli(["exec", "--signal", "SIGUSR2", String(deadPid), "1"], { dir });
  assert.equal(noProcessSignal.code, 3);

  const noManhole = await cli(["exec", String(process.pid), "1"], { dir });
  assert.equal(noManhole.code, 4);
  assert.match(noManhole.stderr, new RegExp(`^manhole: process ${process.pid} has no manhole .*\\n$`));
  const noSocket = await cli(["exec", path.join(dir, "nothing.sock"), "1"], { dir });
  assert.equal(noSocket.code, 4);
  assert.equal(noSocket.stderr.split("\n").length, 2, "one line");
});

test("exec error: a socket of another user is permission denied (5)", {
  skip: !canDropPrivileges() && "needs root and setpriv",
}, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mh-perm-"));
  try {
    fs.chmodSync(dir, 0o755);
    const sock = path.join(dir, "root.sock");
    const server = net.createServer((s) => s.destroy());
    await new Promise((resolve) => server.listen(sock, resolve));
    fs.chmodSync(sock, 0o600);
    // The other user runs a copy of the CLI: the checkout itself may sit in a directory it cannot enter.
    fs.cpSync(path.join(ROOT, "dist"), path.join(dir, "dist"), { recursive: true });
    fs.copyFileSync(path.join(ROOT, "package.json"), path.join(dir, "package.json"));
    try {
      const r = await cli(["exec", sock, "1+1"], {
        prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
        cliPath: path.join(dir, "dist", "cli", "main.js"),
      });
      assert.equal(r.code, 5, r.stderr);
      assert.equal(r.stderr, `manhole: ${sock}: permission denied (the manhole belongs to another user)\n`);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function canDropPrivileges() {
  if (process.getuid?.() !== 0) return false;
  return spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", "0"]).status === 0;
}

test("exec error: protocol version mismatch (6)", async () => {
  const fake = await fakeAgent((s) => {
    s.end(
      `${JSON.stringify({ op: "error", id: 1, text: "the agent speaks protocol 99", error: { name: "ProtocolVersionMismatch", message: "the agent speaks protocol 99" } })}\n`,
    );
  });
  try {
    const r = await cli(["exec", fake.sock, "1"]);
    assert.equal(r.code, 6);
    assert.equal(r.stderr, `manhole: ${fake.sock}: the agent speaks protocol 99\n`);
  } finally {
    await fake.close();
  }
});

test("exec error: a manhole that never answers times out (7)", async () => {
  const sockets = [];
  const fake = await fakeAgent((s) => sockets.push(s));
  try {
    const r = await cli(["exec", "--timeout", "300", fake.sock, "1"]);
    assert.equal(r.code, 7);
    assert.equal(r.stderr, `manhole: ${fake.sock}: timed out after 300 ms\n`);
  } finally {
    for (const s of sockets) s.destroy();
    await fake.close();
  }
});
