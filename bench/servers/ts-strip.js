// One measurement of TypeScript input's cost, in a fresh process (run by bench/typescript.js
// with --expose-gc, and with bench's --require of test/fixtures/hide-strippers.cjs to pick amaro):
// the first strip (loading the stripper), then each snippet's strip, and RSS before and after.
// Prints one JSON line.
"use strict";
const path = require("node:path");
const { performance } = require("node:perf_hooks");

const DIST = path.join(__dirname, "..", "..", "dist", "agent", "main-thread");
const { stripTypes, stripperState } = require(path.join(DIST, "typescript.js"));
const { rewrite } = require(path.join(DIST, "rewrite.js"));

const REPS = Number(process.env.BENCH_TS_REPS || 300);
const SNIPPETS = {
  annotation: "let total: number = orders.reduce((s: number, o: Order) => s + o.total, 0)",
  interface: "interface Order { id: number; total: number; lines?: Line[] }",
  generic: "function first<T>(xs: readonly T[]): T | undefined { return xs[0] }",
  "as/satisfies": "const cfg = { port: 8080 } satisfies Config; (cfg as any).port",
  "enum (transform)": "enum Level { Low, Mid, High }",
};

const settle = () => {
  for (let i = 0; i < 3; i++) global.gc?.();
};
settle();
const rssBefore = process.memoryUsage().rss;
const state = stripperState();
const started = performance.now();
const first = stripTypes("let warm: number = 1");
const firstMs = performance.now() - started;
settle();
const rssAfter = process.memoryUsage().rss;

const perSnippet = {};
for (const [name, code] of Object.entries(SNIPPETS)) {
  const r = stripTypes(code);
  if (!r.ok) {
    perSnippet[name] = { error: r.invalid ? "invalid" : r.message.slice(0, 45) };
    continue;
  }
  const times = [];
  for (let i = 0; i < REPS; i++) {
    const t = performance.now();
    stripTypes(code);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  perSnippet[name] = { us: times[Math.floor(times.length / 2)] * 1000, by: r.by, mode: r.mode };
}

// What a JavaScript input pays: the rewrite alone (the stripper is never called for it).
const js = "let total = orders.reduce((s, o) => s + o.total, 0)";
const jsTimes = [];
for (let i = 0; i < REPS; i++) {
  const t = performance.now();
  rewrite(js);
  jsTimes.push(performance.now() - t);
}
jsTimes.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    node: process.version,
    stripper: state.strip ?? null,
    ok: first.ok,
    firstMs,
    rssAddedMb: (rssAfter - rssBefore) / 2 ** 20,
    perSnippet,
    jsRewriteUs: jsTimes[Math.floor(jsTimes.length / 2)] * 1000,
  })}\n`,
);
