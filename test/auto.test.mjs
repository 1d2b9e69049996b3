// Zero-code attach at start: `--require manhole/auto`, `--import manhole/auto` and the same
// through NODE_OPTIONS, configured from MANHOLE_* variables; apps that never load manhole.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { httpGet, nc, ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");
const AUTO_CJS = path.join(ROOT, "dist", "agent", "auto.js");
const AUTO_MJS = path.join(ROOT, "dist", "agent", "auto.mjs");
const CJS_APP = path.join(ROOT, "test", "fixtures", "plain-app.cjs");
const ESM_APP = path.join(ROOT, "test", "fixtures", "plain-app.mjs");

/** An app that never loads manhole, started with `nodeArgs`; its manhole's socket is the default one. */
const startPlain = (script, { nodeArgs = [], env = {} } = {}) =>
  startApp({ script, nodeArgs, env, ready: /^LISTENING (\d+)$/m }).then((app) => ({ ...app, socket: app.path }));

/** Waits until `file` exists (the manhole starts a moment after the app's first line). */
async function appears(file, ms = 10_000) {
  const until = Date.now() + ms;
  while (!fs.existsSync(file)) {
    if (Date.now() > until) throw new Error(`${file} did not appear`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ways = [
  { name: "--require manhole/auto, a CommonJS app", script: CJS_APP, nodeArgs: ["--require", AUTO_CJS], kind: "cjs" },
  { name: "--import manhole/auto, an ES-module app", script: ESM_APP, nodeArgs: ["--import", AUTO_MJS], kind: "esm" },
  { name: "NODE_OPTIONS=--require, a CommonJS app", script: CJS_APP, env: { NODE_OPTIONS: `--require "${AUTO_CJS}"` }, kind: "cjs" },
  { name: "NODE_OPTIONS=--import, an ES-module app", script: ESM_APP, env: { NODE_OPTIONS: `--import "${AUTO_MJS}"` }, kind: "esm" },
];

for (const way of ways) {
  test(`${way.name}: a manhole in the app's realm; the app serves as before`, async () => {
    const app = await startPlain(way.script, { nodeArgs: way.nodeArgs, env: way.env });
    try {
      await appears(app.socket);
      const { stdout } = await nc(app.socket, "plainState.kind\nprocess.pid\n");
      assert.match(stdout, new RegExp(`'${way.kind}'\\n>>> ${app.child.pid}\\n>>> $`));
      assert.match(await httpGet(app.port), /hits 1/);
      assert.equal(app.stderr(), "");
    } finally {
      await app.stop();
    }
  });
}

test("MANHOLE_* variables configure it; a bad value is one line naming the variable, and the rest still applies", async () => {
  const custom = path.join(tempDir(), "custom.sock");
  const app = await startPlain(CJS_APP, {
    nodeArgs: ["--require", AUTO_CJS],
    env: { MANHOLE_PATH: custom, MANHOLE_TIMEOUT: "soon", MANHOLE_PROMPT: "app> ", MANHOLE_BANNER: "", MANHOLE_OBSERVE_ONLY: "1" },
  });
  try {
    await appears(custom);
    const { stdout } = await nc(custom, ".help\n1+1\n");
    assert.match(stdout, /^app> \.break/);
    assert.match(stdout, /Refused: this manhole is observe-only/);
    assert.equal(app.stderr(), 'manhole: MANHOLE_TIMEOUT="soon": must be a positive integer; ignored\n');
    assert.match(await httpGet(app.port), /hits 1/);
  } finally {
    await app.stop();
  }
});

test("a failure to start never stops the app: one line on stderr, and it serves on", async () => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o777); // unsafe: the manhole refuses it
  const app = await startPlain(CJS_APP, { nodeArgs: ["--require", AUTO_CJS], env: { MANHOLE_DIR: dir } });
  try {
    const until = Date.now() + 5000;
    while (!app.stderr().includes("\n") && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    assert.match(app.stderr(), /^manhole: not started: manhole: refusing .*: mode 777 lets group or others write \(want 0700\)\n$/);
    assert.match(await httpGet(app.port), /hits 1/);
  } finally {
    await app.stop();
  }
});

test("MANHOLE=0 turns it off for the process", async () => {
  const app = await startPlain(CJS_APP, { nodeArgs: ["--require", AUTO_CJS], env: { MANHOLE: "0" } });
  try {
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(fs.readdirSync(app.dir), []);
    assert.equal(app.stderr(), "");
  } finally {
    await app.stop();
  }
});

test("through NODE_OPTIONS: a forked child gets its own manhole, npm run by the app gets none", async () => {
  const app = await startPlain(CJS_APP, {
    env: { NODE_OPTIONS: `--require "${AUTO_CJS}"`, FORK_CHILD: "1", RUN_NPM: "1" },
  });
  try {
    const until = Date.now() + 10_000;
    while (!/^CHILD \d+$/m.test(app.stdout()) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    const childPid = Number(/^CHILD (\d+)$/m.exec(app.stdout())[1]);
    const childSocket = path.join(app.dir, `${childPid}.sock`);
    await appears(app.socket);
    await appears(childSocket);
    const { stdout } = await nc(childSocket, "process.pid\n");
    assert.match(stdout, new RegExp(`\n>>> ${childPid}\n>>> $`));
    const socks = fs
      .readdirSync(app.dir)
      .filter((f) => f.endsWith(".sock"))
      .sort();
    assert.deepEqual(socks, [`${app.child.pid}.sock`, `${childPid}.sock`].sort(), "no manhole for npm");
  } finally {
    await app.stop();
  }
});

test("MANHOLE_CHILDREN=0: only the first process gets one", async () => {
  const app = await startPlain(CJS_APP, {
    env: { NODE_OPTIONS: `--require "${AUTO_CJS}"`, FORK_CHILD: "1", MANHOLE_CHILDREN: "0" },
  });
  try {
    await appears(app.socket);
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(
      fs.readdirSync(app.dir).filter((f) => f.endsWith(".sock")),
      [`${app.child.pid}.sock`],
    );
  } finally {
    await app.stop();
  }
});

test("the usual auto start loads only the worker's start on the main thread; the worker works out the rest", async () => {
  // The app lists manhole's files in its main thread's module cache as its main module starts.
  const dir = tempDir();
  const script = path.join(dir, "list-modules.cjs");
  fs.writeFileSync(
    script,
    `const ours = Object.keys(require.cache).filter((f) => f.startsWith(${JSON.stringify(path.join(ROOT, "dist"))}));
process.stdout.write("MODULES " + JSON.stringify(ours.map((f) => f.slice(${JSON.stringify(path.join(ROOT, "dist"))}.length + 1))) + "\\n");
require(${JSON.stringify(CJS_APP)});\n`,
  );
  for (const nodeArgs of [
    ["--require", AUTO_CJS],
    ["--import", AUTO_MJS],
  ]) {
    const app = await startPlain(script, { nodeArgs, env: { MANHOLE_PROMPT: "auto> " } });
    try {
      const loaded = JSON.parse(/^MODULES (.*)$/m.exec(app.stdout())[1]);
      assert.ok(loaded.includes("agent/auto-worker.js") && loaded.includes("agent/boundary/main-end.js"), loaded.join(" "));
      for (const heavy of ["agent/options.js", "agent/env-options.js", "agent/index.js", "shared/descriptor.js", "shared/runtime-dir.js"]) {
        assert.ok(!loaded.includes(heavy), `${heavy} loaded at start: ${loaded.join(" ")}`);
      }
      assert.ok(loaded.length <= 8, loaded.join(" "));
      // The worker worked out the options, the socket and the descriptor: a session, `ls`, the prompt.
      await appears(app.socket);
      const { stdout } = await nc(app.socket, "1+1\n");
      assert.match(stdout, /auto> 2\nauto> $/);
      const ls = await runClient(process.execPath, [path.join(ROOT, "dist", "cli", "main.js"), "ls", "--json"], "", {
        env: { MANHOLE_DIR: path.dirname(app.socket) },
      });
      assert.deepEqual(
        JSON.parse(ls.stdout).map((e) => [e.pid, e.socket, e.state]),
        [[app.child.pid, app.socket, "responsive"]],
      );
      assert.equal(app.stderr(), "");
      // The app's own SIGTERM handler exits: the socket and the descriptor go with it.
      app.child.kill("SIGTERM");
      assert.deepEqual(await app.exit, { code: 0, signal: null });
      assert.deepEqual(fs.readdirSync(path.dirname(app.socket)), []);
    } finally {
      await app.stop();
    }
  }
});

test("a bad variable is told once, also by an app that exits before the manhole has started", async () => {
  const dir = tempDir();
  const script = path.join(dir, "quick.cjs");
  fs.writeFileSync(script, "process.exit(0);\n");
  for (let i = 0; i < 5; i++) {
    const r = await runClient(process.execPath, ["--require", AUTO_CJS, script], "", {
      env: { MANHOLE_DIR: dir, MANHOLE_TIMEOUT: "soon", MANHOLE_MAX_CONNECTIONS: "-1" },
    });
    assert.equal(r.code, 0);
    assert.equal(
      r.stderr,
      'manhole: MANHOLE_TIMEOUT="soon": must be a positive integer; ignored\nmanhole: MANHOLE_MAX_CONNECTIONS="-1": must be a positive integer; ignored\n',
    );
  }
});
