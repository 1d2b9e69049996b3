// Unit: --app selection and the ls --tree arrangement, from descriptors alone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { matchesApp, nestTree, processTree, roleText } from "../../dist/cli/process-tree.js";

const entry = (pid, ppid, extra = {}) => ({ pid, app: extra.app ?? "shop@1.2.0", descriptor: { ppid, app: { name: "shop" }, ...extra.d } });

test("--app matches the package name, the whole label, or a * pattern", () => {
  const e = entry(1, 0);
  assert.equal(matchesApp(e, "shop"), true);
  assert.equal(matchesApp(e, "shop@1.2.0"), true);
  assert.equal(matchesApp(e, "sh*"), true);
  assert.equal(matchesApp(e, "*@1.2.*"), true);
  assert.equal(matchesApp(e, "sho"), false);
  assert.equal(matchesApp(e, "shop.*"), false, "regex characters are literal");
  const noPackage = { pid: 2, app: "server.js --port 80", descriptor: { ppid: 1, app: null } };
  assert.equal(matchesApp(noPackage, "server.js*"), true);
  assert.equal(matchesApp(noPackage, "server.js"), false);
});

test("a cluster: the primary first, its workers under it in pid order; roles said", () => {
  const primary = entry(100, 1);
  const workers = [
    entry(103, 100, { d: { role: { kind: "cluster-worker", id: 3 } } }),
    entry(101, 100, { d: { role: { kind: "cluster-worker", id: 1 } } }),
  ];
  const other = entry(50, 1);
  const all = [workers[0], other, primary, workers[1]];
  const rows = processTree(all);
  assert.deepEqual(
    rows.map((r) => `${r.prefix}${r.entry.pid}`),
    ["50", "100", "├─ 101", "└─ 103"],
  );
  assert.equal(roleText(primary, all), "primary");
  assert.equal(roleText(workers[0], all), "worker 3");
  assert.equal(roleText(other, all), "");
  assert.equal(roleText(entry(7, 1, { d: { role: { kind: "forked" } } }), all), "forked");
});

test("deeper trees draw their guides; a missing parent makes a root; a pid cycle is drawn once", () => {
  const rows = processTree([entry(1, 0), entry(2, 1), entry(3, 2), entry(4, 1), entry(5, 4), entry(9, 8)]);
  assert.deepEqual(
    rows.map((r) => `${r.prefix}${r.entry.pid}`),
    ["1", "├─ 2", "│  └─ 3", "└─ 4", "   └─ 5", "9"],
  );
  const cycle = processTree([entry(10, 11), entry(11, 10)]);
  assert.deepEqual(cycle.map((r) => r.entry.pid).sort(), [10, 11]);
});

test("--tree --json nests children", () => {
  const rows = processTree([entry(1, 0), entry(2, 1), entry(3, 2), entry(4, 0)]);
  assert.deepEqual(
    nestTree(rows, (e) => ({ pid: e.pid })),
    [
      { pid: 1, children: [{ pid: 2, children: [{ pid: 3, children: [] }] }] },
      { pid: 4, children: [] },
    ],
  );
});
