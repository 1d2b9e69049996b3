// Many processes: a node:cluster app's primary and workers, and a forked child, each get their
// own manhole through NODE_OPTIONS; ls --tree draws them under their parents, exec --all and the
// operations' --all reach every one, --app selects by app.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { ROOT, runClient, startApp, tempDir } from "./helpers.mjs";

const CLI = path.join(ROOT, "dist", "cli", "main.js");
const AUTO_CJS = path.join(ROOT, "dist", "agent", "auto.js");
const CLUSTER_APP = path.join(ROOT, "test", "fixtures", "cluster-app.cjs");
const PLAIN_APP = path.join(ROOT, "test", "fixtures", "plain-app.cjs");

const manhole = (dir, ...args) => runClient(process.execPath, [CLI, ...args], "", { env: { MANHOLE_DIR: dir } });

/** `manhole ls --json` once it lists `count` manholes. */
async function listed(dir, count) {
  let last = "";
  for (let i = 0; i < 150; i++) {
    const { stdout, code, stderr } = await manhole(dir, "ls", "--json");
    assert.equal(code, 0, stderr);
    last = stdout;
    const entries = JSON.parse(stdout);
    if (entries.length >= count && entries.every((e) => e.state === "responsive")) return entries;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`never ${count} responsive manholes: ${last}`);
}

function startThrough(script, dir, env = {}) {
  return startApp({
    script,
    env: { MANHOLE_DIR: dir, NODE_OPTIONS: `--require "${AUTO_CJS}"`, ...env },
    ready: /^LISTENING (\d+)$/m,
  });
}

test("a 3-worker cluster: four manholes, ls --tree shows the primary over its workers, exec --all reaches all four", async () => {
  const dir = tempDir();
  const app = await startThrough(CLUSTER_APP, dir);
  try {
    const entries = await listed(dir, 4);
    const primary = entries.find((e) => e.pid === app.child.pid);
    assert.ok(primary, "the primary has a manhole");
    assert.equal(primary.role, null);
    const workers = entries.filter((e) => e.pid !== app.child.pid);
    assert.equal(workers.length, 3);
    assert.deepEqual(
      workers.map((w) => w.ppid),
      [app.child.pid, app.child.pid, app.child.pid],
    );
    assert.deepEqual(
      workers.map((w) => w.role.kind),
      ["cluster-worker", "cluster-worker", "cluster-worker"],
    );
    assert.deepEqual(workers.map((w) => w.role.id).sort(), [1, 2, 3]);
    assert.deepEqual(
      entries.map((e) => path.basename(e.socket)).sort(),
      entries.map((e) => `${e.pid}.sock`).sort(),
      "each its own <pid>.sock",
    );

    const tree = await manhole(dir, "ls", "--tree");
    assert.equal(tree.code, 0, tree.stderr);
    const lines = tree.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^PID\s+ROLE\s+UPTIME/);
    assert.match(lines[1], new RegExp(`^${app.child.pid}\\s+primary\\s`));
    const sorted = [...workers].sort((a, b) => a.pid - b.pid);
    sorted.forEach((w, i) => {
      const branch = i === sorted.length - 1 ? "└─" : "├─";
      assert.match(lines[2 + i], new RegExp(`^${branch} ${w.pid}\\s+worker ${w.role.id}\\s`));
    });
    assert.equal(lines.length, 5);

    const nested = JSON.parse((await manhole(dir, "ls", "--tree", "--json")).stdout);
    assert.equal(nested.length, 1);
    assert.deepEqual(nested[0].children.map((c) => c.pid).sort(), workers.map((w) => w.pid).sort());

    const exec = await manhole(dir, "exec", "--all", "--json", "process.pid");
    assert.equal(exec.code, 0, exec.stderr);
    const pids = JSON.parse(exec.stdout).map((r) => r.value);
    assert.equal(new Set(pids).size, 4);
    assert.deepEqual([...pids].sort(), entries.map((e) => e.pid).sort());

    // Only the workers have clusterState: the primary's answer is an error, the workers' their id.
    const state = JSON.parse((await manhole(dir, "exec", "--all", "--json", "clusterState.worker")).stdout);
    assert.deepEqual(
      state
        .filter((r) => r.ok)
        .map((r) => r.value)
        .sort(),
      [1, 2, 3],
    );

    const versions = await manhole(dir, "versions", "--all", "--json");
    assert.equal(versions.code, 0, versions.stderr);
    assert.equal(JSON.parse(versions.stdout).length, 4);

    // --jsonl: the processes first, then a line per process as it answers (exec and operations).
    const expected = entries.map((e) => e.pid).sort((a, b) => a - b);
    for (const argv of [
      ["exec", "--all", "--jsonl", "--parallel", "1", "process.pid"],
      ["mem", "--all", "--jsonl", "--parallel", "2"],
    ]) {
      const r = await manhole(dir, ...argv);
      assert.equal(r.code, 0, r.stderr);
      const [head, ...rows] = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      assert.deepEqual(
        head.processes.map((p) => p.pid).sort((a, b) => a - b),
        expected,
        argv.join(" "),
      );
      assert.deepEqual(
        rows.map((o) => o.pid).sort((a, b) => a - b),
        expected,
      );
      for (const o of rows) assert.ok(o.ok && (argv[0] === "exec" ? o.value === o.pid : o.json.rss > 0), JSON.stringify(o));
    }
    const lone = await manhole(dir, "exec", "--jsonl", String(app.child.pid), "1");
    assert.equal(lone.code, 2);
    assert.match(lone.stderr, /--jsonl is for --all/);

    // --app: the fixtures' package is the repository's own.
    const mine = JSON.parse((await manhole(dir, "ls", "--json", "--app", "manhole")).stdout);
    assert.equal(mine.length, 4);
    const none = await manhole(dir, "exec", "--all", "--app", "no-such-app", "1");
    assert.equal(none.code, 4);
    assert.match(none.stderr, /no live manholes in .* for --app no-such-app/);
    const bad = await manhole(dir, "exec", "--app", "manhole", String(app.child.pid), "1");
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--app selects among --all/);
  } finally {
    await app.stop();
  }
});

test("a forked child gets its own manhole, drawn under its parent as forked", async () => {
  const dir = tempDir();
  const app = await startThrough(PLAIN_APP, dir, { FORK_CHILD: "1" });
  try {
    const entries = await listed(dir, 2);
    const child = entries.find((e) => e.pid !== app.child.pid);
    assert.equal(child.ppid, app.child.pid);
    assert.deepEqual(child.role, { kind: "forked" });
    const tree = await manhole(dir, "ls", "--tree");
    const lines = tree.stdout.trimEnd().split("\n");
    assert.match(lines[1], new RegExp(`^${app.child.pid}\\s+-\\s`));
    assert.match(lines[2], new RegExp(`^└─ ${child.pid}\\s+forked\\s`));
    const exec = JSON.parse((await manhole(dir, "exec", "--all", "--json", "process.pid")).stdout);
    assert.deepEqual(exec.map((r) => r.value).sort(), [app.child.pid, child.pid].sort());
  } finally {
    await app.stop();
  }
});
