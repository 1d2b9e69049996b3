// Remote targets through real transports: an OpenSSH server started here on the loopback
// (127.0.0.1 and 127.0.0.2, a throwaway host key and client key), reaching apps on "the remote"
// (this machine), for ls, exec, connect and fleets; and kube:// and docker:// through stand-in
// kubectl/docker scripts that run the command locally the way `kubectl exec -i` would. The
// stand-ins test our argument building, templates and stdio handling, not a cluster.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, startSshd } from "../scripts/sshd.mjs";
import { interruptLoop, ROOT, requireTool, runClient, startApp, TERMINAL_PROMPT, tempDir, tmuxServer } from "./helpers.mjs";

requireTool("sshd", "ssh", "tmux");

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const isRoot = process.getuid?.() === 0;
const NOT_ROOT = isRoot ? false : "sshd runs here only as root (it needs /run/sshd and to switch to the login user); CI runs as root";

/** `manhole <args>` with `env` added (NO_COLOR); resolves to { stdout, stderr, code }. */
function cli(args, { env = {}, input = "", timeout = 30_000 } = {}) {
  return runClient(process.execPath, [CLI, ...args], input, { timeout, env: { NO_COLOR: "1", ...env } });
}

/** Two apps in one runtime directory: the manholes "on the remote". */
async function startApps(options = {}) {
  const dir = tempDir();
  const apps = [await startApp({ env: { MANHOLE_DIR: dir }, options }), await startApp({ env: { MANHOLE_DIR: dir }, options })];
  return { dir, apps, pids: apps.map((a) => a.child.pid).sort((a, b) => a - b) };
}

describe("ssh", { skip: NOT_ROOT }, () => {
  let sshd;
  let remote;
  let env;
  let closedPort;
  before(async () => {
    sshd = await startSshd();
    remote = await startApps({ maxOutputBytes: 16 * 1024 * 1024 });
    closedPort = await freePort();
    // sshd passes no environment: the remote command line says where the manholes are.
    env = { MANHOLE_SSH: sshd.ssh, MANHOLE_REMOTE: `MANHOLE_DIR=${remote.dir} ${process.execPath} ${CLI}` };
  });
  after(async () => {
    for (const app of remote?.apps ?? []) await app.stop();
    await sshd?.stop();
  });
  const at = (host = "127.0.0.1") => `ssh://root@${host}:${sshd.port}`;

  test("ls ssh://host/ lists the manholes there, tagged host/pid (table and --json)", async () => {
    const r = await cli(["ls", `${at()}/`], { env });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split("\n");
    assert.match(lines[0], /^TARGET\s+UPTIME\s+NODE\s+APP\s+STATE\s+SOCKET$/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/)[0]),
      remote.pids.map((pid) => `127.0.0.1:${sshd.port}/${pid}`),
    );
    assert.match(lines[1], /responsive/);

    const j = await cli(["ls", "--json", "--ssh", `root@127.0.0.1:${sshd.port}`], { env });
    assert.equal(j.code, 0, j.stderr);
    const entries = JSON.parse(j.stdout);
    assert.deepEqual(
      entries.map((e) => [e.pid, e.target, e.tag, e.state]),
      remote.pids.map((pid) => [pid, `${at()}/${pid}`, `127.0.0.1:${sshd.port}/${pid}`, "responsive"]),
    );
    assert.equal(entries[0].socket, path.join(remote.dir, `${remote.pids[0]}.sock`));
  });

  test("exec ssh://host/<pid>: the value, output, a throw (exit 1), a big multi-byte value intact", async () => {
    const [pid] = remote.pids;
    let r = await cli(["exec", `${at()}/${pid}`, "process.pid"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pid}\n`);

    r = await cli(["exec", "--ssh", `root@127.0.0.1:${sshd.port}`, String(pid), 'console.log("hi"); 6 * 7'], { env });
    assert.equal(r.stdout, "hi\n42\n");

    r = await cli(["exec", `${at()}/${pid}`, "throw new Error('far')"], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Uncaught Error: far/);

    // 4.5 MB of 2-, 3- and 4-byte characters: every chunk boundary of the pipes is somewhere in one.
    r = await cli(["exec", "--json", `${at()}/${pid}`, "'é€😀'.repeat(500000)"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).value, "é€😀".repeat(500000));
  });

  test("connect ssh://host/<pid> with piped stdin: each result, exit at EOF", async () => {
    const [, pid] = remote.pids;
    const r = await cli(["connect", `${at()}/${pid}`], { env, input: "let x = 20\nx + 1\nprocess.pid\n" });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `undefined\n21\n${pid}\n`);
    // `manhole <url>` is connect too.
    const short = await cli([`${at()}/${pid}`], { env, input: "'short'\n" });
    assert.equal(short.stdout, "'short'\n");
  });

  test("profile and heap over ssh -o <file>: the file lands here, whole (size, sha256 checked), no .part left, exit 0", async () => {
    const [pid] = remote.pids;
    const here = tempDir("mh-artifacts-");
    const cpu = path.join(here, "far.cpuprofile");
    let r = await cli(["profile", `${at()}/${pid}`, "--seconds", "1", "-o", cpu], { env, timeout: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    const wrote = /^wrote (\S+) \(.*, sha256 ([0-9a-f]{64})\)$/m.exec(r.stdout);
    assert.ok(wrote, r.stdout);
    assert.equal(wrote[1], cpu);
    const profileBytes = fs.readFileSync(cpu);
    assert.equal(wrote[2], crypto.createHash("sha256").update(profileBytes).digest("hex"));
    const profile = JSON.parse(profileBytes.toString("utf8"));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, "nodes");
    assert.ok(Array.isArray(profile.samples) && profile.samples.length > 100, `samples: ${profile.samples?.length}`);
    assert.equal(profile.samples.length, profile.timeDeltas.length);
    assert.ok(profile.endTime - profile.startTime >= 900_000, "about a second of samples (µs)");

    // A snapshot of several MB: many chunks through ssh and the far bridge, each written here as it comes.
    const snapshot = path.join(here, "far.heapsnapshot");
    r = await cli(["heap", `${at()}/${pid}`, "--yes", "-o", snapshot], { env, timeout: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const heapWrote = /^wrote (\S+) \((.*), sha256 ([0-9a-f]{64})\)$/m.exec(r.stdout);
    assert.ok(heapWrote, r.stdout);
    assert.equal(heapWrote[1], snapshot);
    const heapBytes = fs.readFileSync(snapshot);
    assert.ok(heapBytes.length > 1024 * 1024, `${heapBytes.length} bytes`);
    assert.equal(heapWrote[3], crypto.createHash("sha256").update(heapBytes).digest("hex"));
    assert.equal(heapBytes.subarray(0, 12).toString(), '{"snapshot":');
    const heap = JSON.parse(heapBytes.toString("utf8"));
    assert.equal(heap.nodes.length, heap.snapshot.node_count * heap.snapshot.meta.node_fields.length);
    assert.ok(heap.strings.includes("appState"), "the app's own names are in it");
    assert.match(r.stderr, /% of .* received/, "progress on stderr");

    assert.deepEqual(fs.readdirSync(here).sort(), ["far.cpuprofile", "far.heapsnapshot"]);
  });

  test("connect ssh://host/<pid> in a terminal (tmux): answers, the prompt naming the process, Ctrl-C, Ctrl-D", async () => {
    const [pid] = remote.pids;
    const server = tmuxServer();
    const t = server.terminal(["connect", `${at()}/${pid}`], { env: { ...env, XDG_STATE_HOME: tempDir() } });
    try {
      const screen = await t.waitFor(TERMINAL_PROMPT);
      assert.match(screen, new RegExp(`manhole: pid ${pid}, app \\S+, node v\\d+`));
      assert.match(screen, new RegExp(`^\\S+:${pid}>$`, "m"));
      t.type("1+1");
      t.keys("Enter");
      await t.waitFor(/^2$/m);
      t.type("appState.items");
      t.keys("Enter");
      await t.waitFor(/^\[ 'a', 'b' \]$/m);
      await interruptLoop(t);
      t.type("6 * 7");
      t.keys("Enter");
      await t.waitFor(/^42$/m);
      t.keys("C-d");
      await t.waitFor(/^EXITED 0$/m);
    } finally {
      t.kill();
      server.stop();
    }
  });

  test("profile over ssh in a terminal: Ctrl-C stops it early and its file still arrives (130); Ctrl-C twice leaves at once", async () => {
    const [pid] = remote.pids;
    const server = tmuxServer();
    const here = tempDir("mh-artifacts-");
    const file = path.join(here, "cut.cpuprofile");
    // The terminal's SIGINT goes to its whole foreground process group: ssh must not die of it.
    const t = server.terminal(["profile", `${at()}/${pid}`, "--seconds", "60", "-o", file], { env });
    try {
      await t.waitFor(/profiling the main thread for 1m00s/);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      t.keys("C-c");
      await t.waitFor(/^EXITED \d+$/m, 30_000);
      // The profile's summary can fill the 40 rows: what it said first may have scrolled off.
      const shown = t.history();
      assert.match(shown, /stopped early after/);
      assert.match(shown, /^EXITED 130$/m);
      const profile = JSON.parse(fs.readFileSync(file, "utf8"));
      assert.ok(profile.samples.length > 100, `samples: ${profile.samples.length}`);
      assert.ok(profile.endTime - profile.startTime < 30_000_000, "cut short");
    } finally {
      t.kill();
    }
    fs.rmSync(file);
    const twice = server.terminal(["profile", `${at()}/${pid}`, "--seconds", "60", "-o", file], { env });
    try {
      await twice.waitFor(/profiling the main thread/);
      twice.keys("C-c", "C-c");
      await twice.waitFor(/^EXITED 130$/m, 30_000);
      assert.deepEqual(fs.readdirSync(here), [], "nothing half written is left");
    } finally {
      twice.kill();
      server.stop();
    }
  });

  test("fleet: exec --all and ls over --ssh 127.0.0.1,127.0.0.2 and a closed port; the closed one fails alone", async () => {
    const hosts = `root@127.0.0.1:${sshd.port},root@127.0.0.2:${sshd.port},root@127.0.0.1:${closedPort}`;
    const r = await cli(["exec", "--all", "--ssh", hosts, "--parallel", "3", "process.pid"], { env });
    assert.equal(r.code, 1, "some target failed");
    const rows = r.stdout.trim().split("\n");
    for (const host of ["127.0.0.1", "127.0.0.2"]) {
      for (const pid of remote.pids) {
        assert.ok(
          rows.some((row) => new RegExp(`^${host}:${sshd.port}/${pid}\\s+\\S+\\s+${pid}$`).test(row)),
          `${host}/${pid} in ${r.stdout}`,
        );
      }
    }
    assert.ok(
      rows.some((row) => row.startsWith(`127.0.0.1:${closedPort} `) && /host unreachable: .*Connection refused/.test(row)),
      r.stdout,
    );

    const j = await cli(["exec", "--all", "--json", "--ssh", hosts, "process.pid"], { env });
    assert.equal(j.code, 1);
    const out = JSON.parse(j.stdout);
    assert.equal(out.length, 5);
    for (const o of out.filter((o) => o.ok)) assert.equal(o.value, o.pid);
    assert.deepEqual(
      out.filter((o) => o.ok).map((o) => o.target),
      ["127.0.0.1", "127.0.0.2"].flatMap((h) => remote.pids.map((pid) => `ssh://root@${h}:${sshd.port}/${pid}`)),
    );
    const failed = out.find((o) => !o.ok);
    assert.equal(failed.target, `ssh://root@127.0.0.1:${closedPort}`);
    assert.equal(failed.error.exitCode, 8);

    const ls = await cli(["ls", "--ssh", hosts], { env });
    assert.equal(ls.code, 1);
    assert.equal(ls.stdout.trim().split("\n").length, 5, ls.stdout); // the header and four processes
    assert.match(ls.stderr, new RegExp(`^manhole: ssh://root@127.0.0.1:${closedPort}: host unreachable`, "m"));

    // --parallel 1 runs them one at a time, with the same answers.
    const one = await cli(
      ["exec", "--all", "--json", "--parallel", "1", "--ssh", `root@127.0.0.1:${sshd.port},root@127.0.0.2:${sshd.port}`, "1"],
      {
        env,
      },
    );
    assert.equal(one.code, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).length, 4);
  });

  test("fleet: the same host named twice is one target (each process once); with a bad port beside it, that one fails alone", async () => {
    const h = `root@127.0.0.1:${sshd.port}`;
    const r = await cli(["exec", "--all", "--json", "--ssh", `${h},${h},root@127.0.0.1:${closedPort}`, "process.pid"], { env });
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      out.map((o) => [o.tag, o.ok, o.ok ? o.value : o.error.exitCode]),
      [...remote.pids.map((pid) => [`127.0.0.1:${sshd.port}/${pid}`, true, pid]), [`127.0.0.1:${closedPort}`, false, 8]],
    );
    const ls = await cli(["ls", "--json", `ssh://${h}/`, `ssh://${h}`], { env });
    assert.equal(ls.code, 0, ls.stderr);
    assert.deepEqual(
      JSON.parse(ls.stdout).map((e) => e.pid),
      remote.pids,
    );
  });

  test("fleet: --target-timeout counts a target's own time, not its wait for a --parallel slot", async () => {
    // Two targets, one transport at a time: each target's listing and two 3 s evaluations take
    // about 8 s of its own, the whole run about twice that. The second target waits for the
    // first's evaluations; with 12 s each, both must finish.
    const hosts = `root@127.0.0.1:${sshd.port},root@127.0.0.2:${sshd.port}`;
    const code = "await new Promise((r) => setTimeout(r, 3000)); process.pid";
    const started = Date.now();
    const r = await cli(["exec", "--all", "--json", "--parallel", "1", "--target-timeout", "12000", "--ssh", hosts, code], {
      env,
      timeout: 90_000,
    });
    assert.equal(r.code, 0, r.stdout);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(
      out.map((o) => [o.tag, o.value]),
      ["127.0.0.1", "127.0.0.2"].flatMap((h) => remote.pids.map((pid) => [`${h}:${sshd.port}/${pid}`, pid])),
    );
    assert.ok(Date.now() - started > 12_000, "one at a time, the run took longer than one target may");

    // A target whose own work takes longer still times out, in its rows (exit 7 there), and the run fails.
    const slow = await cli(
      ["exec", "--all", "--json", "--parallel", "1", "--target-timeout", "4000", "--ssh", `root@127.0.0.1:${sshd.port}`, code],
      { env, timeout: 60_000 },
    );
    assert.equal(slow.code, 1, slow.stdout);
    const rows = JSON.parse(slow.stdout);
    assert.ok(
      rows.some((o) => !o.ok && /timed out/.test(o.text)),
      slow.stdout,
    );
  });

  test("fleet: one ssh login per target, not per process; --app reaches each target; a target out of time keeps the rows it sent", async () => {
    // A third app, of another name, beside the two; every ssh run is logged.
    const appDir = tempDir();
    fs.writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: "other", version: "1.0.0" }));
    fs.writeFileSync(path.join(appDir, "other.cjs"), `require(${JSON.stringify(path.join(ROOT, "test", "fixtures", "app.cjs"))});\n`);
    const other = await startApp({ env: { MANHOLE_DIR: remote.dir }, script: path.join(appDir, "other.cjs") });
    try {
      const log = path.join(tempDir(), "ssh.log");
      const wrapper = path.join(path.dirname(log), "ssh");
      fs.writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nexec ${sshd.ssh} "$@"\n`, { mode: 0o755 });
      const hosts = `root@127.0.0.1:${sshd.port},root@127.0.0.2:${sshd.port}`;
      const pids = [...remote.pids, other.child.pid].sort((a, b) => a - b);
      const r = await cli(["exec", "--all", "--json", "--ssh", hosts, "process.pid"], { env: { ...env, MANHOLE_SSH: wrapper } });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.deepEqual(
        out.map((o) => [o.tag, o.value]),
        ["127.0.0.1", "127.0.0.2"].flatMap((h) => pids.map((pid) => [`${h}:${sshd.port}/${pid}`, pid])),
      );
      assert.equal(fs.readFileSync(log, "utf8").trim().split("\n").length, 2, "one login per host for six processes");

      // An operation's --all over the fleet: one login per host again, rows <host>/<pid> with its JSON value.
      fs.writeFileSync(log, "");
      const mem = await cli(["mem", "--all", "--json", "--parallel", "1", "--ssh", hosts], { env: { ...env, MANHOLE_SSH: wrapper } });
      assert.equal(mem.code, 0, mem.stderr);
      const memRows = JSON.parse(mem.stdout);
      assert.deepEqual(
        memRows.map((o) => [o.tag, o.ok]),
        ["127.0.0.1", "127.0.0.2"].flatMap((h) => pids.map((pid) => [`${h}:${sshd.port}/${pid}`, true])),
      );
      for (const o of memRows) assert.ok(o.json.rss > 0, JSON.stringify(o));
      assert.equal(fs.readFileSync(log, "utf8").trim().split("\n").length, 2);
      const table = await cli(["versions", "--all", "--ssh", hosts], { env });
      assert.equal(table.code, 0, table.stderr);
      assert.equal(table.stdout.trim().split("\n").length, 6, table.stdout);
      const profile = await cli(["profile", "--all", "--ssh", hosts], { env });
      assert.equal(profile.code, 2);
      assert.match(profile.stderr, /profile streams a file: name one process/);

      // --app is passed to each target: only that app's processes answer.
      const named = await cli(["exec", "--all", "--json", "--app", "other", "--ssh", hosts, "process.pid"], { env });
      assert.equal(named.code, 0, named.stderr);
      assert.deepEqual(
        JSON.parse(named.stdout).map((o) => o.value),
        [other.child.pid, other.child.pid],
      );

      // One process answers at once, the others after 6 s; the target may take 4 s: the quick
      // row is kept, the others time out in their rows (exit 7 there), and the run fails.
      const code = `process.pid === ${other.child.pid} ? process.pid : await new Promise((r) => setTimeout(() => r(process.pid), 6000))`;
      const slow = await cli(["exec", "--all", "--json", "--target-timeout", "4000", "--ssh", `root@127.0.0.1:${sshd.port}`, code], {
        env,
        timeout: 60_000,
      });
      assert.equal(slow.code, 1, slow.stdout);
      const rows = JSON.parse(slow.stdout);
      assert.deepEqual(
        rows.map((o) => [o.pid, o.ok, o.ok ? o.value : o.error.exitCode]),
        pids.map((pid) => (pid === other.child.pid ? [pid, true, pid] : [pid, false, 7])),
      );
      for (const o of rows.filter((o) => !o.ok)) assert.match(o.text, /timed out \(--target-timeout 4000 ms\)/);
    } finally {
      await other.stop();
    }
  });

  test("clear errors: authentication, unreachable, no such process, manhole not installed, ssh missing", async () => {
    const [pid] = remote.pids;
    let r = await cli(["exec", `${at()}/${pid}`, "1"], { env: { ...env, MANHOLE_SSH: sshd.sshWrongKey } });
    assert.equal(r.code, 5);
    assert.match(
      r.stderr,
      /^manhole: ssh:\/\/root@127\.0\.0\.1:\d+\/\d+: ssh authentication failed for root@127\.0\.0\.1 \(.*Permission denied/,
    );

    r = await cli(["exec", `ssh://root@127.0.0.1:${closedPort}/${pid}`, "1"], { env });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /host unreachable: .*Connection refused/);
    r = await cli(["ls", `ssh://root@127.0.0.1:${closedPort}`], { env });
    assert.equal(r.code, 8, "one target: its own exit code");

    r = await cli(["exec", `${at()}/999999`, "1"], { env });
    assert.equal(r.code, 3);
    assert.equal(r.stderr, `manhole: ${at()}/999999: no such process: 999999\n`);

    r = await cli(["exec", `${at()}/${pid}`, "1"], { env: { ...env, MANHOLE_REMOTE: "no-such-manhole-command" } });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /manhole is not installed on 127\.0\.0\.1 \(install it there: npm install manhole/);
    // The default remote command: nothing on the remote PATH, in node_modules above its home, or for npx.
    r = await cli(["ls", `${at()}/`], { env: { MANHOLE_SSH: sshd.ssh, MANHOLE_REMOTE: "" } });
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, /manhole is not installed on 127\.0\.0\.1/);

    r = await cli(["exec", `${at()}/${pid}`, "1"], { env: { ...env, MANHOLE_SSH: "/nonexistent/ssh -v" } });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /\/nonexistent\/ssh not found \(install it, or set MANHOLE_SSH/);
  });
});

/** A stand-in kubectl or docker (Node): records its argv, answers `get pods`, runs `exec`'s command locally in `cwd` with `dir` as MANHOLE_DIR. */
function standIn(name, { dir, pods = [] }) {
  const bin = tempDir("mh-standin-");
  const log = path.join(bin, "argv.log");
  const cwd = tempDir("mh-standin-cwd-");
  const file = path.join(bin, name);
  const script = `#!${process.execPath}
const fs = require("node:fs");
const { spawn } = require("node:child_process");
const argv = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify(argv) + "\\n");
const at = argv.indexOf("exec");
if (argv.includes("get")) {
  process.stdout.write(JSON.stringify({ items: ${JSON.stringify(pods)} }));
  process.exit(0);
}
const rest = argv.slice(at + 1).filter((a) => a !== "-i");
let cmd;
let where;
if (${JSON.stringify(name)} === "kubectl") {
  const dash = rest.indexOf("--");
  cmd = rest.slice(dash + 1);
  where = rest.slice(0, dash).filter((a, i, all) => a !== "-n" && a !== "-c" && all[i - 1] !== "-n" && all[i - 1] !== "-c")[0];
  if (where === "missing") {
    process.stderr.write('Error from server (NotFound): pods "missing" not found\\n');
    process.exit(1);
  }
} else {
  where = rest[0];
  cmd = rest.slice(1);
  if (where === "missing") {
    process.stderr.write("Error response from daemon: No such container: missing\\n");
    process.exit(1);
  }
}
const child = spawn(cmd[0], cmd.slice(1), {
  stdio: "inherit",
  cwd: ${JSON.stringify(cwd)},
  env: { PATH: "/usr/bin:/bin", MANHOLE_DIR: ${JSON.stringify(dir)} },
});
child.on("exit", (code, signal) => {
  if (code) process.stderr.write("command terminated with exit code " + code + "\\n");
  process.exit(code ?? 1);
});
`;
  fs.writeFileSync(file, script, { mode: 0o755 });
  return {
    file,
    argv: () =>
      fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    clear: () => fs.writeFileSync(log, ""),
  };
}

describe("kube:// and docker:// through stand-in kubectl and docker", () => {
  let remote;
  before(async () => {
    remote = await startApps();
  });
  after(async () => {
    for (const app of remote?.apps ?? []) await app.stop();
  });
  const REMOTE = `${process.execPath} ${CLI}`;

  test("kube://ns/pod/container/<pid>: exec, connect, ls; MANHOLE_KUBECTL's words come first; kubectl exec -i -n -c --", async () => {
    const kubectl = standIn("kubectl", { dir: remote.dir });
    const env = { MANHOLE_KUBECTL: `${kubectl.file} --context 'test ctx'`, MANHOLE_REMOTE: REMOTE };
    const [pid] = remote.pids;
    let r = await cli(["exec", `kube://shop/web-1/app/${pid}`, "process.pid"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pid}\n`);
    assert.deepEqual(kubectl.argv().at(-1), [
      "--context",
      "test ctx",
      "exec",
      "-i",
      "-n",
      "shop",
      "web-1",
      "-c",
      "app",
      "--",
      process.execPath,
      CLI,
      "bridge",
      "--",
      String(pid),
    ]);

    r = await cli(["connect", "--kube", "web-1", String(pid)], { env, input: "1 + 2\n" });
    assert.equal(r.stdout, "3\n");
    assert.deepEqual(kubectl.argv().at(-1).slice(2, 6), ["exec", "-i", "web-1", "--"]);

    r = await cli(["ls", "--json", "kube://shop/web-1/"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).map((e) => e.tag),
      remote.pids.map((p) => `web-1/${p}`),
    );
    assert.deepEqual(kubectl.argv().at(-1).slice(-4), ["ls", "--json", "--timeout", "1000"]);

    r = await cli(["exec", `kube://shop/missing/${pid}`, "1"], { env });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /kube:\/\/shop\/missing\/\d+: pod not found: Error from server \(NotFound\)/);

    r = await cli(["exec", `kube://web-1/${pid}`, "1"], { env: { MANHOLE_KUBECTL: "/nonexistent/kubectl" } });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /\/nonexistent\/kubectl not found \(install it, or set MANHOLE_KUBECTL/);
  });

  test("the default remote command runs sh -c and finds manhole in node_modules/.bin above the working directory, else says to install it", async () => {
    const kubectl = standIn("kubectl", { dir: remote.dir });
    const [pid] = remote.pids;
    let r = await cli(["exec", `kube://web-1/${pid}`, "1"], { env: { MANHOLE_KUBECTL: kubectl.file } });
    assert.equal(r.code, 8);
    assert.match(r.stderr, /manhole is not installed on pod web-1 \(install it there: npm install manhole/);
    const argv = kubectl.argv().at(-1);
    assert.deepEqual(argv.slice(0, 7), ["exec", "-i", "web-1", "--", "sh", "-c", argv[6]]);
    assert.deepEqual(argv.slice(7), ["manhole", "bridge", "--", String(pid)]);

    // An app directory above the command's working directory, with manhole in its node_modules/.bin.
    const app = tempDir("mh-app-");
    const binDir = path.join(app, "node_modules", ".bin");
    fs.mkdirSync(binDir, { recursive: true });
    fs.writeFileSync(path.join(binDir, "manhole"), `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`, { mode: 0o755 });
    const work = path.join(app, "srv");
    fs.mkdirSync(work);
    const inApp = standIn("kubectl", { dir: remote.dir });
    fs.writeFileSync(inApp.file, fs.readFileSync(inApp.file, "utf8").replace(/cwd: "[^"]*"/, `cwd: ${JSON.stringify(work)}`));
    r = await cli(["exec", `kube://web-1/${pid}`, "process.pid"], { env: { MANHOLE_KUBECTL: inApp.file } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pid}\n`);
  });

  test("--kube -l app=shop: every running pod of kubectl get pods -o json, rows pod/pid; exec --all", async () => {
    const pods = [
      { metadata: { name: "shop-a", namespace: "prod" }, status: { phase: "Running" } },
      { metadata: { name: "shop-b", namespace: "prod" }, status: { phase: "Running" } },
      { metadata: { name: "shop-c", namespace: "prod" }, status: { phase: "Pending" } },
    ];
    const kubectl = standIn("kubectl", { dir: remote.dir, pods });
    const env = { MANHOLE_KUBECTL: `${kubectl.file} --context prod`, MANHOLE_REMOTE: REMOTE };
    let r = await cli(["exec", "--all", "--kube", "-l", "app=shop", "-n", "prod", "process.pid"], { env });
    assert.equal(r.code, 0, r.stderr);
    const tags = r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/)[0]);
    assert.deepEqual(
      tags,
      ["shop-a", "shop-b"].flatMap((pod) => remote.pids.map((pid) => `${pod}/${pid}`)),
    );
    const calls = kubectl.argv();
    assert.deepEqual(calls[0], ["--context", "prod", "get", "pods", "-n", "prod", "-l", "app=shop", "-o", "json"]);
    assert.ok(calls.some((a) => a.join(" ").startsWith("--context prod exec -i -n prod shop-b -- ")));

    r = await cli(["ls", "--json", "--kube", "-l", "app=shop"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout).map((e) => e.target),
      ["shop-a", "shop-b"].flatMap((pod) => remote.pids.map((pid) => `kube://prod/${pod}/${pid}`)),
    );

    r = await cli(["ls", "--kube", "-l", "app=none"], { env: { ...env, MANHOLE_KUBECTL: standIn("kubectl", { dir: remote.dir }).file } });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /no running pod matches app=none/);
  });

  test("docker://container/<pid>: docker exec -i <container> <command>; exec --all --docker a,missing", async () => {
    const docker = standIn("docker", { dir: remote.dir });
    const env = { MANHOLE_DOCKER: `${docker.file} -H unix:///x.sock`, MANHOLE_REMOTE: REMOTE };
    const [pid] = remote.pids;
    let r = await cli(["exec", `docker://web/${pid}`, "process.pid"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${pid}\n`);
    assert.deepEqual(docker.argv().at(-1), [
      "-H",
      "unix:///x.sock",
      "exec",
      "-i",
      "web",
      process.execPath,
      CLI,
      "bridge",
      "--",
      String(pid),
    ]);

    r = await cli(["exec", "--all", "--docker", "web,missing", "1"], { env });
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^missing\s+-\s+manhole: docker:\/\/missing: container not found or not running/m);
    assert.equal(r.stdout.trim().split("\n").length, 3);
  });
});
