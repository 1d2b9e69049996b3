// The published package: `npm pack`, install the tarball into an empty app, use it from
// require() and import, and run its bin.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { before, test } from "node:test";
import { promisify } from "node:util";
import { MODES, nc, ROOT, requireTool, startApp, tempDir } from "./helpers.mjs";

requireTool("nc");

const run = promisify(execFile);
const PKG = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const NPM_TIMEOUT = 180_000;
const npmEnv = { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" };

let appDir;
let tarball;

const CJS_APP = `const { startManhole } = require("manhole");
const threaded = process.env.MANHOLE_TEST_THREADED !== "0";
process.stdout.write("RESOLVED " + require.resolve("manhole") + "\\n");
setInterval(() => {}, 1000);
startManhole({ threaded, banner: null }).then(
  (h) => process.stdout.write("READY " + h.path + " 0\\n"),
  (e) => { process.stdout.write("FAILED " + e.message + "\\n"); process.exit(3); },
);
process.on("SIGTERM", () => process.exit(0));
`;

const ESM_APP = `import { startManhole } from "manhole";
import manhole from "manhole";
if (manhole.startManhole !== startManhole) throw new Error("default export and named export differ");
const threaded = process.env.MANHOLE_TEST_THREADED !== "0";
process.stdout.write("RESOLVED " + new URL(import.meta.resolve("manhole")).pathname + "\\n");
setInterval(() => {}, 1000);
try {
  const h = await startManhole({ threaded, banner: null });
  process.stdout.write("READY " + h.path + " 0\\n");
} catch (e) {
  process.stdout.write("FAILED " + e.message + "\\n");
  process.exit(3);
}
process.on("SIGTERM", () => process.exit(0));
`;

before(
  async () => {
    const packDir = tempDir("mh-pack-");
    // --ignore-scripts: use the dist/ already built (npm test builds first), so that packing
    // does not rebuild dist/ under other tests running at the same time.
    const { stdout } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", packDir], {
      cwd: ROOT,
      env: npmEnv,
      timeout: NPM_TIMEOUT,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [info] = JSON.parse(stdout);
    tarball = path.join(packDir, info.filename);
    assert.ok(fs.statSync(tarball).size > 0, "tarball written");
    const files = info.files.map((f) => f.path);
    for (const f of [
      "package.json",
      "dist/agent/index.js",
      "dist/agent/index.mjs",
      "dist/agent/index.d.ts",
      "dist/agent/boundary/worker-end.js",
      "dist/cli/main.js",
    ]) {
      assert.ok(files.includes(f), `tarball has ${f}`);
    }
    assert.ok(!files.some((f) => f.startsWith("src/") || f.startsWith("test/")), "no sources or tests in the tarball");

    appDir = tempDir("mh-app-");
    fs.writeFileSync(path.join(appDir, "package.json"), JSON.stringify({ name: "mh-consumer", version: "1.0.0", private: true }));
    await run("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball], {
      cwd: appDir,
      env: npmEnv,
      timeout: NPM_TIMEOUT,
      maxBuffer: 64 * 1024 * 1024,
    });
    fs.writeFileSync(path.join(appDir, "app.cjs"), CJS_APP);
    fs.writeFileSync(path.join(appDir, "app.mjs"), ESM_APP);
  },
  { timeout: 2 * NPM_TIMEOUT + 10_000 },
);

test("npm pack + npm install: the package and its one dependency are installed", () => {
  const installed = JSON.parse(fs.readFileSync(path.join(appDir, "node_modules", "manhole", "package.json"), "utf8"));
  assert.equal(installed.name, "manhole");
  assert.equal(installed.version, PKG.version);
  assert.ok(fs.existsSync(path.join(appDir, "node_modules", "acorn", "package.json")), "acorn installed");
});

test("node_modules/.bin/manhole --version prints the package version", { timeout: 30_000 }, async () => {
  const { stdout } = await run(path.join(appDir, "node_modules", ".bin", "manhole"), ["--version"], { cwd: appDir, timeout: 20_000 });
  assert.equal(stdout, `${PKG.version}\n`);
});

for (const mode of MODES) {
  for (const script of ["app.cjs", "app.mjs"]) {
    const how = script.endsWith(".cjs") ? "require('manhole')" : "import { startManhole } from 'manhole'";
    test(`${mode}: ${how} in the installed app: 1+1 answers 2 over nc`, { timeout: 60_000 }, async () => {
      const app = await startApp({ mode, script: path.join(appDir, script) });
      try {
        // The manhole is the installed copy, not this checkout.
        const resolved = /^RESOLVED (.+)$/m.exec(app.stdout())[1];
        const expected = script.endsWith(".cjs") ? "index.js" : "index.mjs";
        assert.equal(fs.realpathSync(resolved), fs.realpathSync(path.join(appDir, "node_modules", "manhole", "dist", "agent", expected)));
        const { stdout } = await nc(app.path, "1+1\n");
        assert.equal(stdout, ">>> 2\n>>> ");
      } finally {
        await app.stop();
      }
    });
  }
}

for (const [flag, script] of [
  ["--require", "plain.cjs"],
  ["--import", "plain.mjs"],
]) {
  test(`node ${flag} manhole/auto ${script}: the installed package's auto entry gives an app that never loads it a manhole`, {
    timeout: 60_000,
  }, async () => {
    const plain = "setInterval(() => {}, 1000);\nprocess.stdout.write('READY ' + process.pid + '\\n');\n";
    fs.writeFileSync(path.join(appDir, script), plain);
    const dir = tempDir();
    const { spawn } = await import("node:child_process");
    const child = spawn(process.execPath, [flag, "manhole/auto", script], {
      cwd: appDir,
      env: { ...process.env, MANHOLE_DIR: dir, MANHOLE_BANNER: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const socket = path.join(dir, `${child.pid}.sock`);
      const until = Date.now() + 15_000;
      while (!fs.existsSync(socket) && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      const { stdout } = await nc(socket, "1+1\n");
      assert.equal(stdout, ">>> 2\n>>> ");
    } finally {
      child.kill("SIGKILL");
    }
  });
}
