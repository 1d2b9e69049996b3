// The `manhole` command as a user runs it: --help, --version, and the demo app.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { nc, ROOT, runClient, tempDir } from "./helpers.mjs";

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
