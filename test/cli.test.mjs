// The `manhole` command as a user runs it: --help, --version, the demo app, and the TCP address in ls.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { nc, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;

test("manhole --version prints the package version", async () => {
  const { stdout, code } = await runClient(process.execPath, [CLI, "--version"], "");
  assert.equal(stdout, `${VERSION}\n`);
  assert.equal(code, 0);
});

test("manhole --help and demo --help describe the commands; an unknown command exits 2", async () => {
  const help = await runClient(process.execPath, [CLI, "--help"], "");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: manhole <command>/);
  assert.match(help.stdout, /demo\s+start a small demo app/);
  const demoHelp = await runClient(process.execPath, [CLI, "demo", "--help"], "");
  assert.equal(demoHelp.code, 0);
  assert.match(demoHelp.stdout, /--path <socket>/);
  const bad = await runClient(process.execPath, [CLI, "frobnicate"], "");
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'manhole: unknown command "frobnicate" (see manhole --help)\n');
});

for (const threaded of [true, false]) {
  test(`demo${threaded ? "" : " --no-threaded"}: prints the socket and the nc line; nc reaches the demo app; process.exit(0) ends it`, async () => {
    const dir = tempDir();
    const sock = path.join(dir, "demo.sock");
    const args = [CLI, "demo", "--path", sock, ...(threaded ? [] : ["--no-threaded"])];
    const child = spawn(process.execPath, args, { env: { ...process.env, MANHOLE_DIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
    const exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    let out = "";
    child.stdout.setEncoding("utf8");
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`demo did not start: ${out}`)), 10_000);
      child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("connect with:")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      assert.match(out, new RegExp(`^manhole socket: ${sock}$`, "m"));
      assert.match(out, new RegExp(`^connect with: +nc -U ${sock}$`, "m"));
      const { stdout } = await nc(sock, "app.orders.length\napp.orders[0].item\n");
      assert.match(stdout, /\n>>> 2\n>>> 'coffee'\n>>> $/);
      await nc(sock, "process.exit(0)\n");
      assert.equal(await exit, 0);
      assert.equal(fs.existsSync(sock), false, "the socket is removed when the demo ends");
    } finally {
      child.kill("SIGKILL");
    }
  });
}

test("ls shows the TCP address of a manhole that also listens on TCP (table and --json); exec takes that address", async () => {
  const dir = tempDir();
  const env = { MANHOLE_DIR: dir, NO_COLOR: "1" };
  const manhole = (...args) => runClient(process.execPath, [CLI, ...args], "", { env });
  const tcpApp = await startApp({ options: { tcp: { port: 0 } }, env: { MANHOLE_DIR: dir } });
  const plain = await startApp({ env: { MANHOLE_DIR: dir } });
  try {
    // The port the agent reports on its handle, not read back from the descriptor ls uses.
    const asked = await manhole("exec", String(tcpApp.child.pid), "manholeHandle.tcp.port");
    assert.equal(asked.code, 0, asked.stderr);
    const port = Number(asked.stdout);
    assert.ok(Number.isInteger(port) && port > 0, asked.stdout);

    const table = await manhole("ls");
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 3, table.stdout);
    assert.match(lines[0], /^PID +UPTIME +NODE +APP +STATE +TCP +SOCKET$/);
    const row = (app) => lines.find((l) => l.startsWith(`${app.child.pid} `)).split(/ {2,}/);
    assert.deepEqual(row(tcpApp).slice(4), ["responsive", `127.0.0.1:${port}`, tcpApp.path]);
    assert.deepEqual(row(plain).slice(4), ["responsive", "-", plain.path]);

    const json = await manhole("ls", "--json");
    assert.equal(json.code, 0, json.stderr);
    const byPid = new Map(JSON.parse(json.stdout).map((e) => [e.pid, e]));
    assert.deepEqual(byPid.get(tcpApp.child.pid).tcp, { host: "127.0.0.1", port });
    assert.equal(byPid.get(tcpApp.child.pid).socket, tcpApp.path);
    assert.equal("tcp" in byPid.get(plain.child.pid), false, "no tcp field without a TCP listener");

    // The TCP cell as printed is what exec takes (token from the local token file).
    const viaTcp = await manhole("exec", `127.0.0.1:${port}`, "process.pid");
    assert.deepEqual({ stdout: viaTcp.stdout, code: viaTcp.code }, { stdout: `${tcpApp.child.pid}\n`, code: 0 });

    const help = await manhole("ls", "--help");
    assert.match(help.stdout, /state, TCP and socket/);
    assert.match(help.stdout, /"tcp": \{"host", "port"\}/);
  } finally {
    await tcpApp.stop();
    await plain.stop();
  }
});
