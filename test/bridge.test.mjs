// `manhole bridge`: stdin/stdout <-> a local manhole socket, byte for byte, with half-close,
// the errors of connect, and flow control (20 MB to a slow reader without the bridge's memory growing).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "node:test";
import { nc, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc", "socat");

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const bridge = (args, input, opts = {}) => runClient(process.execPath, [CLI, "bridge", ...args], input, opts);

test("every byte value both ways; the far side's answer after our end of input still arrives (half-close)", async () => {
  const sock = path.join(tempDir(), "echo.sock");
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    const got = [];
    s.on("data", (d) => {
      got.push(d);
      s.write(d);
    });
    // Only after the client half-closed: the total, then close.
    s.on("end", () => s.end(`\nEND ${Buffer.concat(got).length}\n`));
  });
  await new Promise((resolve) => server.listen(sock, resolve));
  try {
    const bytes = Buffer.alloc(256 * 16);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 256;
    const input = Buffer.concat([bytes, crypto.randomBytes(1024 * 1024), Buffer.from([0xff, 0xf4, 0x03, 0x00, 0x0d, 0x0a])]);
    const r = await bridge([sock], input);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    assert.ok(r.raw.subarray(0, input.length).equals(input), "the bytes came back unchanged");
    assert.equal(r.raw.subarray(input.length).toString(), `\nEND ${input.length}\n`);
  } finally {
    server.close();
  }
});

test("a manhole through socat and the bridge answers exactly as nc straight to its socket", async () => {
  const app = await startApp({ options: { banner: null } });
  const front = path.join(tempDir(), "front.sock");
  // -t: after nc's half-close socat waits this long for the bridge's answer (0.5 s by default,
  // less than a loaded machine may take to start the bridge's Node).
  const socat = spawn("socat", ["-t", "30", `UNIX-LISTEN:${front},fork`, `EXEC:${process.execPath} ${CLI} bridge ${app.path}`], {
    stdio: "ignore",
  });
  try {
    for (let i = 0; !fs.existsSync(front); i++) {
      assert.ok(i < 200, "socat listens");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const input = "1 + 1\nlet s = 'é€😀'\ns.repeat(3)\nfunction f() {\nreturn 7 }\nf()\n\x03\n.break\n{\"op\":1}\nthrow 42\n";
    const direct = await nc(app.path, input);
    const bridged = await nc(front, input);
    assert.equal(bridged.code, 0, bridged.stderr);
    assert.ok(direct.stdout.includes("'é€😀é€😀é€😀'"), direct.stdout);
    assert.equal(bridged.stdout, direct.stdout);
  } finally {
    socat.kill();
    await app.stop();
  }
});

test("errors with connect's exit codes: no such process, no manhole, a remote or TCP target, usage", async () => {
  let r = await bridge(["999999"], "");
  assert.equal(r.code, 3);
  assert.equal(r.stderr, "manhole: no such process: 999999\n");
  r = await bridge([path.join(tempDir(), "none.sock")], "");
  assert.equal(r.code, 4);
  assert.match(r.stderr, /^manhole: .*none\.sock: no manhole there \(no such socket\)\n$/);
  r = await bridge(["127.0.0.1:4000"], "");
  assert.equal(r.code, 2);
  r = await bridge(["ssh://h/1"], "");
  assert.equal(r.code, 2);
  r = await bridge([], "");
  assert.equal(r.code, 2);
  r = await runClient(process.execPath, [CLI, "bridge", "--help"], "");
  assert.match(r.stdout, /^Usage: manhole bridge/);
});

/** Resident set size of `pid` in bytes (VmRSS). */
function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) * 1024;
}

test("20 MB to a slow reader: the bridge pipes, its memory does not grow with what passes", async () => {
  const app = await startApp({ options: { banner: null, maxOutputBytes: 64 * 1024 * 1024 } });
  const child = spawn(process.execPath, [CLI, "bridge", app.path], { stdio: ["pipe", "pipe", "pipe"] });
  try {
    const total = 20 * 1024 * 1024;
    // Wait for the prompt, then measure the bridge at rest.
    const prompt = await new Promise((resolve) => child.stdout.once("data", resolve));
    assert.equal(prompt.toString(), ">>> ");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const atRest = rss(child.pid);
    child.stdin.write(`for (let i = 0; i < 20; i++) console.log('x'.repeat(${1024 * 1024 - 1}))\n`);
    child.stdin.end();
    // A reader that takes at most 256 KiB every 25 ms (about 10 MB/s), far slower than the manhole writes.
    let received = 0;
    let peak = atRest;
    let taken = 0;
    const sample = setInterval(() => {
      try {
        peak = Math.max(peak, rss(child.pid));
      } catch {
        // exited
      }
    }, 20);
    child.stdout.on("data", (chunk) => {
      received += chunk.length;
      taken += chunk.length;
      if (taken >= 256 * 1024) {
        taken = 0;
        child.stdout.pause();
        setTimeout(() => child.stdout.resume(), 25);
      }
    });
    await new Promise((resolve) => child.stdout.once("end", resolve));
    clearInterval(sample);
    assert.equal(received, total + 4 + 10, "every byte: 20 lines of 1 MiB, the prompt, and the loop's result");
    const growth = peak - atRest;
    console.log(
      `bridge RSS at rest ${(atRest / 1048576).toFixed(1)} MB, peak ${(peak / 1048576).toFixed(1)} MB while passing ${(received / 1048576).toFixed(1)} MB to a 10 MB/s reader`,
    );
    assert.ok(growth < 5 * 1024 * 1024, `the bridge grew by ${growth} bytes`);
  } finally {
    child.kill();
    await app.stop();
  }
});
