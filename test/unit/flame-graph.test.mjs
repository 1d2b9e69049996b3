// Unit: the CPU profile summary (self and total time per function) and the flame graph built
// from it, on a profile made by hand so that every figure is known.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flameData, flameGraphHtml, flameGraphSvg } from "../../dist/cli/flame-graph.js";
import { profileText, summariseProfile } from "../../dist/shared/cpu-profile.js";

const cf = (functionName, line = 0, url = "file:///app/server.js") => ({
  functionName,
  scriptId: "1",
  url,
  lineNumber: line,
  columnNumber: 4,
});

/**
 * (root) → main → hot (self 60 ms) → leaf (10 ms); main → cold (20 ms); main → recurse → recurse (10 ms);
 * (root) → (idle) 100 ms. Samples one per 10 ms.
 */
function profile() {
  const nodes = [
    { id: 1, callFrame: cf("(root)", 0, ""), children: [2, 7] },
    { id: 2, callFrame: cf("main", 1), children: [3, 5, 8] },
    { id: 3, callFrame: cf("hot", 10), children: [4] },
    { id: 4, callFrame: cf("leaf", 20), children: [] },
    { id: 5, callFrame: cf("cold", 30), children: [] },
    { id: 7, callFrame: cf("(idle)", 0, ""), children: [] },
    { id: 8, callFrame: cf("recurse", 40), children: [9] },
    { id: 9, callFrame: cf("recurse", 40), children: [] },
  ];
  const samples = [...Array(6).fill(3), 4, 5, 5, 9, ...Array(10).fill(7)];
  return {
    nodes,
    startTime: 1_000_000,
    endTime: 1_000_000 + samples.length * 10_000,
    samples,
    timeDeltas: samples.map((_, i) => (i === 0 ? 0 : 10_000)),
  };
}

test("self and total time per function, recursion counted once, idle apart", () => {
  const s = summariseProfile(profile());
  assert.equal(s.samples, 20);
  assert.equal(s.durationMs, 200);
  assert.equal(s.idle, 0.5);
  const by = Object.fromEntries(s.bySelf.map((f) => [f.name, f]));
  assert.equal(by.hot.selfMs, 60);
  assert.equal(by.hot.totalMs, 70);
  assert.equal(by.cold.selfMs, 20);
  assert.equal(by.recurse.totalMs, 10, "a recursive function's total is not counted twice");
  assert.equal(by.main.totalMs, 100);
  assert.equal(by.hot.location, "/app/server.js:11:5");
  assert.equal(s.bySelf[0].name, "hot");
  assert.equal(s.byTotal[0].name, "main");
  assert.ok(!s.bySelf.some((f) => f.name === "(idle)" || f.name === "(root)"));
  const text = profileText(s);
  assert.match(text, /JavaScript 50\.0%, idle 50\.0%/);
  assert.match(text, /top \d+ by self time:\n.*\n\s+60 ms\s+30\.0%\s+70 ms\s+35\.0%\s+hot \(\/app\/server\.js:11:5\)/);
});

test("the flame data merges one function's nodes on one path and leaves idle out", () => {
  const p = profile();
  // A second node for `hot` under main (V8 makes one per position): merged with the first.
  p.nodes.push({ id: 10, callFrame: cf("hot", 10), children: [] });
  p.nodes[1].children.push(10);
  p.samples.push(10);
  p.timeDeltas.push(10_000);
  p.endTime += 10_000;
  const d = flameData(p);
  const frames = d.frames.map(([name, loc, depth, total, self]) => ({ name: d.names[name], loc: d.locations[loc], depth, total, self }));
  assert.deepEqual(frames[0], { name: "all", loc: "", depth: 0, total: 110_000, self: 0 });
  assert.equal(d.idleUs, 100_000);
  const hot = frames.filter((f) => f.name === "hot");
  assert.equal(hot.length, 1);
  assert.deepEqual(hot[0], { name: "hot", loc: "/app/server.js:11:5", depth: 2, total: 80_000, self: 70_000 });
  // Widest first: under main, hot (80) before cold (20) and recurse (10).
  const underMain = frames.filter((f) => f.depth === 2).map((f) => f.name);
  assert.deepEqual(underMain, ["hot", "cold", "recurse"]);
  assert.deepEqual(flameData(p, { idle: true }).frames[0][3], 210_000);
});

test("the page is self-contained and its names cannot break out of the script", () => {
  const p = profile();
  p.nodes[4].callFrame.functionName = "</script><img src=x onerror=alert(1)>";
  const html = flameGraphHtml(p, { title: "a <title>" });
  assert.ok(!/<script[^>]+src=|<link|https?:\/\//.test(html), "no external resources");
  assert.ok(!html.includes("</script><img"), "a function name stays data");
  assert.match(html, /<title>a &#60;title&#62; — flame graph<\/title>/);
  const json = /<script id="flame-data" type="application\/json">(.*)<\/script>/.exec(html)[1];
  assert.ok(JSON.parse(json).names.includes("</script><img src=x onerror=alert(1)>"));
});

test("the SVG: one box per frame, as wide as its time, its detail in a title", () => {
  const svg = flameGraphSvg(profile(), { title: "t" });
  assert.match(svg, /^<\?xml[^>]*>\n<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="1200"/);
  const box = (name) => new RegExp(`<title>${name} [^<]*</title><rect x="([\\d.]+)" y="(\\d+)" width="([\\d.]+)"`).exec(svg);
  // all = 100 ms of JavaScript (idle left out): main 100 ms at depth 1, hot 70 ms, cold 20 ms after it.
  const main = box("main");
  assert.equal(Number(main[3]), 1200);
  const hot = box("hot");
  assert.deepEqual([Number(hot[1]), Number(hot[3])], [0, 840]);
  const cold = box("cold");
  assert.deepEqual([Number(cold[1]), Number(cold[3])], [840, 240]);
  assert.equal(Number(hot[2]), Number(cold[2]), "siblings on one row");
  assert.match(svg, /<text x="3\.00" y="\d+">hot<\/text>/);
  assert.ok(!/https?:\/\/(?!www\.w3\.org\/2000\/svg)/.test(svg), "no external resources");
});
