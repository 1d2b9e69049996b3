// A short soak (bench/soak.js) in each mode, with fixed seeds: hostile clients in both protocols
// and connect/disconnect cycles while the app serves HTTP. The app must not die, no request may
// fail, descriptors and heaps (after .gc) come back, and a fresh session answers.

import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, test } from "node:test";
import { MODES } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const { soak, failures } = require("../bench/soak.js");
const { privateTempDir, startChild, cleanup } = require("../bench/lib.js");

after(cleanup);

for (const mode of MODES) {
  for (const seed of [20261201, 7919]) {
    test(`${mode}: 12 s of hostile clients (seed ${seed}) leave the app whole`, { timeout: 120_000 }, async (t) => {
      const r = await soak({ seconds: 12, seed, mode, dir: privateTempDir("mh-soak-"), startChild });
      t.diagnostic(
        `${r.counts.connections} connections, ${r.counts.cycles} cycles, HTTP ${r.http.ok} ok; heap after .gc +${(r.heap.afterMb - r.heap.beforeMb).toFixed(1)} MB (worker +${(r.heap.workerAfterMb - r.heap.workerBeforeMb).toFixed(1)}); RSS +${(r.rss.afterGcMb - r.rss.beforeMb).toFixed(1)} MB`,
      );
      assert.deepEqual(failures(r), []);
      assert.ok(r.counts.connections > 100, `only ${r.counts.connections} connections were made`);
    });
  }
}
