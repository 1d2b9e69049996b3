// Peer credentials: a connection from another uid is refused, by the file permissions first and,
// when those are loosened, by SO_PEERCRED. Needs root (to run a client as another uid) and setpriv.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { MODES, openSession, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

const NOBODY = 65534;
const skip =
  process.platform !== "linux"
    ? "Linux only"
    : process.geteuid?.() !== 0
      ? "needs root to run a client as another uid"
      : spawnSync("setpriv", ["--version"]).error
        ? "setpriv is missing"
        : false;
if (!skip) requireTool("nc");

/** `nc -N -U path` as uid/gid 65534 with no supplementary groups. */
const ncAsNobody = (socketPath, input) =>
  runClient("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "nc", "-N", "-U", socketPath], input);

/** Resolves once the app's stderr matches `pattern` (the test runner's timeout bounds the wait). */
async function stderrMatching(app, pattern) {
  while (!pattern.test(app.stderr())) await new Promise((r) => setTimeout(r, 20));
  return app.stderr();
}

for (const mode of MODES) {
  test(`${mode}: another uid is stopped by the socket's permissions`, { skip }, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const { stdout, code } = await ncAsNobody(app.path, "1+1\n");
      assert.equal(stdout, "");
      assert.notEqual(code, 0);
      const owner = await openSession(app);
      assert.equal(await owner.eval("1+1"), "2\n");
      owner.end();
      assert.equal(app.child.exitCode, null);
      assert.doesNotMatch(app.stderr(), /refused a connection|peer credentials unavailable/);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: with loosened permissions, another uid is refused by its peer credentials`, { skip }, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const owner = await openSession(app);
      fs.chmodSync(path.dirname(app.path), 0o755);
      fs.chmodSync(app.dir, 0o755);
      fs.chmodSync(app.path, 0o777);
      const { stdout } = await ncAsNobody(app.path, "1+1\n");
      assert.equal(stdout, `manhole: permission denied: peer uid ${NOBODY} is not the owner (uid 0)\n`);
      const stderr = await stderrMatching(app, /manhole: refused a connection from uid 65534 \(pid \d+\)\n/);
      assert.equal(stderr.match(/refused a connection/g).length, 1);
      assert.doesNotMatch(stderr, /peer credentials unavailable/);
      // root (uid 0) is allowed; the owner's session was never disturbed.
      assert.equal(await owner.eval("1+1"), "2\n");
      const again = await openSession(app);
      assert.equal(await again.eval("1+1"), "2\n");
      again.end();
      owner.end();
      assert.equal(app.child.exitCode, null);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a refused peer is recorded in the audit log (connection-refused, its pid and uid)`, { skip }, async () => {
    const log = path.join(tempDir(), "audit.log");
    const app = await startApp({ mode, options: { banner: null, audit: log } });
    try {
      fs.chmodSync(app.dir, 0o755);
      fs.chmodSync(app.path, 0o777);
      await ncAsNobody(app.path, "1+1\n");
      await stderrMatching(app, /refused a connection from uid 65534/);
      while (!fs.existsSync(log) || !fs.readFileSync(log, "utf8").includes("connection-refused")) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const [event, ...rest] = fs
        .readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(rest, []);
      assert.equal(event.event, "connection-refused");
      assert.equal(event.session, 0);
      assert.equal(event.peer.uid, NOBODY);
      assert.ok(Number.isInteger(event.peer.pid));
      assert.equal(event.reason, `peer uid ${NOBODY} is not the owner (uid 0)`);
    } finally {
      await app.stop();
    }
  });
}
