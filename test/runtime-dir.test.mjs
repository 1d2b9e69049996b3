// Where the socket lives, how private that place is, and what happens at a path already taken.
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { test } from "node:test";
import { MODES, nc, requireTool, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const require = createRequire(import.meta.url);
const { PROTOCOL_VERSION } = require("../dist/agent/index.js");
const PKG = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const FIXTURE = new URL("./fixtures/app.cjs", import.meta.url).pathname;

const modeOf = (p) => fs.statSync(p).mode & 0o777;
const uid = process.getuid();

/** Starting an app must fail with a FAILED line matching `pattern`. */
async function assertRefused(mode, env, pattern) {
  await assert.rejects(startApp({ mode, env }), (err) => {
    assert.match(err.message, /^FAILED /);
    assert.match(err.message, pattern);
    return true;
  });
}

async function answers(socketPath) {
  const { stdout } = await nc(socketPath, "1+1\n");
  assert.match(stdout, />>> 2\n>>> $/);
}

for (const mode of MODES) {
  test(`${mode}: default socket is $MANHOLE_DIR/<pid>.sock; the dir is created 0700, the socket is 0600`, async () => {
    const dir = path.join(tempDir(), "nested", "runtime");
    const app = await startApp({ mode, env: { MANHOLE_DIR: dir } });
    try {
      assert.equal(app.path, path.join(dir, `${app.child.pid}.sock`));
      assert.equal(modeOf(dir), 0o700);
      const st = fs.lstatSync(app.path);
      assert.ok(st.isSocket(), "socket file is a socket");
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, uid);
      await answers(app.path);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: without $MANHOLE_DIR the socket is in $XDG_RUNTIME_DIR/manhole`, async () => {
    const xdg = tempDir();
    const app = await startApp({ mode, env: { MANHOLE_DIR: "", XDG_RUNTIME_DIR: xdg } });
    try {
      const dir = path.join(xdg, "manhole");
      assert.equal(app.path, path.join(dir, `${app.child.pid}.sock`));
      assert.equal(modeOf(dir), 0o700);
      assert.equal(modeOf(app.path), 0o600);
      assert.ok(fs.existsSync(path.join(dir, `${app.child.pid}.json`)));
      await answers(app.path);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: without either, the socket is in <tmpdir>/manhole-<uid>`, async () => {
    const tmp = tempDir();
    const app = await startApp({ mode, env: { MANHOLE_DIR: "", XDG_RUNTIME_DIR: "", TMPDIR: tmp } });
    try {
      const dir = path.join(tmp, `manhole-${uid}`);
      assert.equal(app.path, path.join(dir, `${app.child.pid}.sock`));
      assert.equal(modeOf(dir), 0o700);
      assert.equal(modeOf(app.path), 0o600);
      await answers(app.path);
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: the <pid>.json descriptor beside the socket`, async () => {
    const app = await startApp({ mode });
    try {
      const pid = app.child.pid;
      const file = path.join(app.dir, `${pid}.json`);
      assert.equal(path.dirname(app.path), app.dir);
      assert.equal(modeOf(file), 0o600);
      const d = JSON.parse(fs.readFileSync(file, "utf8"));
      assert.equal(d.pid, pid);
      assert.equal(d.ppid, process.pid);
      assert.equal(typeof d.startTime, "string");
      const started = Date.parse(d.startTime);
      assert.ok(!Number.isNaN(started), `startTime is a date: ${d.startTime}`);
      assert.equal(new Date(started).toISOString(), d.startTime);
      assert.ok(started <= Date.now(), "startTime is not in the future");
      assert.deepEqual(d.argv, [process.execPath, FIXTURE]);
      assert.equal(d.cwd, process.cwd());
      assert.equal(d.node, process.version);
      // The fixture lives inside this package, so its nearest package.json is ours.
      assert.deepEqual(d.app, { name: PKG.name, version: PKG.version });
      assert.equal(d.socket, app.path);
      assert.equal(d.protocol, PROTOCOL_VERSION);
      assert.equal(typeof d.protocol, "number");
      assert.equal(d.threaded, mode === "threaded");
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: a runtime dir that is a symbolic link is refused`, async () => {
    const base = tempDir();
    const real = path.join(base, "real");
    fs.mkdirSync(real, { mode: 0o700 });
    const link = path.join(base, "link");
    fs.symlinkSync(real, link);
    await assertRefused(mode, { MANHOLE_DIR: link }, new RegExp(`refusing ${link}: it is a symbolic link`));
    assert.deepEqual(fs.readdirSync(real), [], "nothing was created through the link");
  });

  test(`${mode}: a runtime dir owned by another user is refused`, { skip: uid !== 0 && "needs root to chown" }, async () => {
    const dir = path.join(tempDir(), "theirs");
    fs.mkdirSync(dir, { mode: 0o700 });
    fs.chownSync(dir, 65534, 65534);
    await assertRefused(mode, { MANHOLE_DIR: dir }, new RegExp(`refusing ${dir}: it is owned by uid 65534`));
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  test(`${mode}: a group- or world-writable runtime dir is refused`, async () => {
    for (const bits of [0o770, 0o707, 0o777]) {
      const dir = path.join(tempDir(), "open");
      fs.mkdirSync(dir);
      fs.chmodSync(dir, bits);
      const shown = bits.toString(8);
      await assertRefused(mode, { MANHOLE_DIR: dir }, new RegExp(`refusing ${dir}: mode ${shown} lets group or others write`));
      assert.deepEqual(fs.readdirSync(dir), [], `nothing created in a ${shown} dir`);
      assert.equal(modeOf(dir), bits, "the dir's mode is left alone");
    }
  });

  test(`${mode}: a file at the socket path that is not a socket is refused and left alone`, async () => {
    const socketPath = path.join(tempDir(), "app.sock");
    fs.writeFileSync(socketPath, "precious");
    await assert.rejects(startApp({ mode, options: { path: socketPath } }), (err) => {
      assert.match(err.message, new RegExp(`^FAILED .*refusing ${socketPath}: it exists and is not a socket`));
      return true;
    });
    assert.equal(fs.readFileSync(socketPath, "utf8"), "precious");
  });

  test(`${mode}: a socket at the path owned by someone else is refused and left alone`, {
    skip: uid !== 0 && "needs root to chown",
  }, async () => {
    const socketPath = path.join(tempDir(), "app.sock");
    const first = await startApp({ mode, options: { path: socketPath } });
    first.child.kill("SIGKILL");
    await first.exit;
    fs.lchownSync(socketPath, 65534, 65534);
    await assert.rejects(startApp({ mode, options: { path: socketPath } }), (err) => {
      assert.match(err.message, new RegExp(`^FAILED .*refusing ${socketPath}: the socket there belongs to uid 65534`));
      return true;
    });
    assert.equal(fs.lstatSync(socketPath).uid, 65534);
  });

  test(`${mode}: a stale socket left by a killed process is replaced`, async () => {
    const socketPath = path.join(tempDir(), "app.sock");
    const first = await startApp({ mode, options: { path: socketPath } });
    first.child.kill("SIGKILL");
    await first.exit;
    assert.ok(fs.lstatSync(socketPath).isSocket(), "the killed app's socket file is still there");
    const second = await startApp({ mode, options: { path: socketPath } });
    try {
      assert.equal(second.path, socketPath);
      assert.equal(modeOf(socketPath), 0o600);
      const { stdout } = await nc(socketPath, "process.pid\n");
      assert.match(stdout, new RegExp(`>>> ${second.child.pid}\n>>> $`));
    } finally {
      await second.stop();
    }
  });

  test(`${mode}: a path where a live process listens is never taken over`, async () => {
    const socketPath = path.join(tempDir(), "busy.sock");
    const first = await startApp({ mode, options: { path: socketPath } });
    try {
      const ino = fs.lstatSync(socketPath).ino;
      await assert.rejects(startApp({ mode, options: { path: socketPath } }), (err) => {
        assert.match(err.message, /^FAILED /);
        assert.ok(err.message.includes(socketPath), `names the path: ${err.message}`);
        assert.match(err.message, /in use/);
        return true;
      });
      assert.equal(fs.lstatSync(socketPath).ino, ino, "the socket file is untouched");
      const { stdout } = await nc(socketPath, "process.pid\n");
      assert.match(stdout, new RegExp(`>>> ${first.child.pid}\n>>> $`));
    } finally {
      await first.stop();
    }
  });
}
