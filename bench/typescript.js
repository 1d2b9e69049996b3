// What TypeScript input costs: the first TypeScript input (loading the stripper), each snippet's
// strip after that, and the RSS the stripper adds once loaded, for Node's own
// module.stripTypeScriptTypes (where this Node has it) and for amaro; each figure the median of
// BENCH_REPS fresh processes. JavaScript input never calls a stripper: its row is the rewrite alone.
//
//   node bench/typescript.js               (after `npm run build`)
//   BENCH_REPS=7 BENCH_TS_REPS=1000 node bench/typescript.js
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");
const { median, table, machine } = require("./lib.js");

const REPS = Number(process.env.BENCH_REPS || 5);
const CHILD = path.join(__dirname, "servers", "ts-strip.js");
const HIDE = path.join(__dirname, "..", "test", "fixtures", "hide-strippers.cjs");

function once(hidden) {
  const r = spawnSync(process.execPath, ["--expose-gc", "--require", HIDE, CHILD], {
    env: { ...process.env, MANHOLE_TEST_HIDE_STRIPPERS: hidden },
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`ts-strip failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

function main() {
  console.log(`TypeScript input cost (${machine()}), ${REPS} fresh processes per stripper`);
  const variants = [
    { label: "Node's module.stripTypeScriptTypes", hidden: "amaro" },
    { label: "amaro", hidden: "node" },
  ];
  const rows = [];
  const snippetRows = [];
  for (const v of variants) {
    const runs = [];
    for (let i = 0; i < REPS; i++) runs.push(once(v.hidden));
    if (!runs[0].stripper || !runs[0].ok) {
      rows.push([v.label, "unavailable", "", ""]);
      continue;
    }
    rows.push([
      v.label,
      `${median(runs.map((r) => r.firstMs)).toFixed(1)} ms`,
      `${median(runs.map((r) => r.rssAddedMb)).toFixed(1)} MB`,
      `${median(runs.map((r) => r.jsRewriteUs)).toFixed(1)} µs`,
    ]);
    for (const name of Object.keys(runs[0].perSnippet)) {
      const cell = runs[0].perSnippet[name];
      if (cell.error) snippetRows.push([v.label, name, `refused: ${cell.error}`]);
      else
        snippetRows.push([v.label, `${name} (${cell.by} ${cell.mode})`, `${median(runs.map((r) => r.perSnippet[name].us)).toFixed(0)} µs`]);
    }
  }
  table(["stripper", "first TypeScript input", "RSS added once loaded", "JS input: rewrite only"], rows);
  console.log("");
  table(["stripper", "snippet", "strip, median"], snippetRows);
}

main();
