/**
 * A flame graph of a CPU profile as one self-contained HTML file (no network: its script and
 * styles are inline): one box per function on a call path, as wide as its share of the time,
 * callers above callees; hover shows the function, its file:line and its times; a click zooms
 * into it; a search box highlights matches. Pure: profile in, text out.
 */
import { type CpuProfile, frameLocation, frameName, type ProfileNode, rootOf, selfTimes } from "../shared/cpu-profile.js";

interface Frame {
  key: string;
  name: string;
  location: string;
  /** µs */
  self: number;
  total: number;
  children: Map<string, Frame>;
}

/** Frames narrower than this share of the whole are left out (and counted). */
const MIN_SHARE = 0.0005;

export interface FlameOptions {
  title?: string;
  /** Keep the time the loop sat idle (left out by default: it hides what ran). */
  idle?: boolean;
}

export interface FlameData {
  /** Per frame, in depth-first order: name index, location index, depth, total µs, self µs. */
  frames: number[][];
  names: string[];
  locations: string[];
  totalUs: number;
  idleUs: number;
  omitted: number;
}

/** The profile's call tree with the same function on the same path merged, as flat data. */
export function flameData(profile: CpuProfile, { idle = false }: FlameOptions = {}): FlameData {
  const byId = new Map<number, ProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const self = selfTimes(profile);
  const root: Frame = { key: "", name: "all", location: "", self: 0, total: 0, children: new Map() };
  let idleUs = 0;
  // Each profile node merged into its parent frame's child of the same function.
  const stack: { node: ProfileNode; into: Frame }[] = (rootOf(profile).children ?? []).flatMap((id) => {
    const node = byId.get(id);
    return node ? [{ node, into: root }] : [];
  });
  while (stack.length) {
    const { node, into } = stack.pop() as { node: ProfileNode; into: Frame };
    const cf = node.callFrame;
    if (cf.functionName === "(idle)" && into === root && !idle) {
      idleUs += self.get(node.id) ?? 0;
      continue;
    }
    const key = `${cf.functionName}\u0000${cf.url}\u0000${cf.lineNumber}\u0000${cf.columnNumber}`;
    let frame = into.children.get(key);
    if (!frame) {
      frame = { key, name: frameName(cf), location: frameLocation(cf), self: 0, total: 0, children: new Map() };
      into.children.set(key, frame);
    }
    frame.self += self.get(node.id) ?? 0;
    for (const id of node.children ?? []) {
      const child = byId.get(id);
      if (child) stack.push({ node: child, into: frame });
    }
  }
  const sum = (f: Frame): number => {
    let t = f.self;
    for (const c of f.children.values()) t += sum(c);
    f.total = t;
    return t;
  };
  sum(root);
  const names: string[] = [];
  const locations: string[] = [];
  const nameIndex = new Map<string, number>();
  const locIndex = new Map<string, number>();
  const intern = (table: string[], index: Map<string, number>, s: string) => {
    let i = index.get(s);
    if (i === undefined) {
      i = table.length;
      table.push(s);
      index.set(s, i);
    }
    return i;
  };
  const frames: number[][] = [];
  let omitted = 0;
  const min = root.total * MIN_SHARE;
  const walk: { f: Frame; depth: number }[] = [{ f: root, depth: 0 }];
  while (walk.length) {
    const { f, depth } = walk.pop() as { f: Frame; depth: number };
    frames.push([
      intern(names, nameIndex, f.name),
      intern(locations, locIndex, f.location),
      depth,
      Math.round(f.total),
      Math.round(f.self),
    ]);
    // Widest first, left to right (pushed in reverse so that it is popped first).
    const kids = [...f.children.values()].sort((a, b) => b.total - a.total);
    for (const c of kids) if (c.total < min) omitted++;
    for (const c of kids.filter((k) => k.total >= min).reverse()) walk.push({ f: c, depth: depth + 1 });
  }
  return { frames, names, locations, totalUs: root.total, idleUs, omitted };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON that cannot end the script element it sits in. */
const scriptJson = (v: unknown) =>
  JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

export function flameGraphHtml(profile: CpuProfile, options: FlameOptions = {}): string {
  const data = flameData(profile, options);
  const title = options.title ?? "CPU profile";
  const seconds = ((profile.endTime - profile.startTime) / 1e6).toFixed(1);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)} — flame graph</title>
<style>
  body { font: 12px/1.4 system-ui, sans-serif; margin: 0; color: #222; background: #fff; }
  header { padding: 8px 12px; border-bottom: 1px solid #ddd; position: sticky; top: 0; background: #fff; z-index: 2; }
  h1 { font-size: 14px; margin: 0 0 4px; }
  #detail { font-family: ui-monospace, monospace; min-height: 1.4em; white-space: pre; overflow: hidden; text-overflow: ellipsis; }
  #graph { position: relative; margin: 8px 12px; }
  .frame { position: absolute; height: 17px; box-sizing: border-box; border: 1px solid #fff; border-radius: 2px;
    overflow: hidden; white-space: nowrap; text-overflow: ellipsis; padding: 0 3px; cursor: pointer; font-size: 11px; line-height: 15px; }
  .frame:hover { border-color: #000; }
  .frame.above { opacity: 0.45; }
  .frame.match { outline: 2px solid #d0f; outline-offset: -2px; }
  button, input { font: inherit; }
</style>
</head>
<body>
<header>
  <h1>${escapeHtml(title)}</h1>
  <div>${seconds} s profiled; widths are time on the main thread${data.idleUs > 0 ? ` (idle time, ${(data.idleUs / 1e6).toFixed(1)} s, left out)` : ""}${data.omitted ? `; ${data.omitted} call paths under ${MIN_SHARE * 100}% left out` : ""}. Hover for detail, click to zoom.
    <button id="reset" type="button">Reset zoom</button> <input id="search" type="search" placeholder="Highlight functions…"></div>
  <div id="detail"></div>
</header>
<div id="graph"></div>
<script id="flame-data" type="application/json">${scriptJson(data)}</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flame-data").textContent);
  var ROW = 18;
  var nodes = [];
  var parents = [];
  data.frames.forEach(function (f, i) {
    var node = { i: i, name: data.names[f[0]], location: data.locations[f[1]], depth: f[2], total: f[3], self: f[4], children: [], parent: null };
    while (parents.length && parents[parents.length - 1].depth >= node.depth) parents.pop();
    if (parents.length) { node.parent = parents[parents.length - 1]; node.parent.children.push(node); }
    parents.push(node);
    nodes.push(node);
  });
  var root = nodes[0];
  var graph = document.getElementById("graph");
  var detail = document.getElementById("detail");
  var search = document.getElementById("search");
  function ms(us) { return us >= 1e6 ? (us / 1e6).toFixed(2) + " s" : (us / 1000).toFixed(1) + " ms"; }
  function pct(us) { return root.total ? ((us / root.total) * 100).toFixed(1) + "%" : "0%"; }
  function hue(node) {
    if (/^\\((program|garbage collector|idle|root)\\)$/.test(node.name) || node.name === "all") return "hsl(0, 0%, 80%)";
    var h = 0;
    for (var k = 0; k < node.name.length; k++) h = (h * 31 + node.name.charCodeAt(k)) >>> 0;
    if (/^node:/.test(node.location)) return "hsl(" + (200 + (h % 30)) + ", 55%, " + (70 + (h % 10)) + "%)";
    return "hsl(" + (h % 50) + ", 85%, " + (60 + (h % 15)) + "%)";
  }
  function describe(node) {
    return node.name + (node.location ? "  " + node.location : "") + "\\ntotal " + ms(node.total) + " (" + pct(node.total) + "), self " + ms(node.self) + " (" + pct(node.self) + ")";
  }
  function box(node, x, w, depth, above) {
    var el = document.createElement("div");
    el.className = "frame" + (above ? " above" : "");
    el.style.left = (x * 100) + "%";
    el.style.width = (w * 100) + "%";
    el.style.top = (depth * ROW) + "px";
    el.style.background = hue(node);
    el.textContent = node.name;
    el.title = describe(node);
    el.dataset.name = node.name;
    el.dataset.total = String(node.total);
    el.addEventListener("mouseenter", function () { detail.textContent = describe(node).replace("\\n", "   "); });
    el.addEventListener("click", function () { render(node); });
    graph.appendChild(el);
    return el;
  }
  function render(focus) {
    graph.textContent = "";
    var chain = [];
    for (var a = focus.parent; a; a = a.parent) chain.unshift(a);
    chain.forEach(function (a, d) { box(a, 0, 1, d, true); });
    var base = chain.length;
    var maxDepth = base;
    var min = 1 / (graph.clientWidth || 1000) / 2;
    (function place(node, x, w, depth) {
      box(node, x, w, depth, false);
      if (depth > maxDepth) maxDepth = depth;
      var at = x;
      node.children.forEach(function (c) {
        var cw = focus.total ? (c.total / focus.total) : 0;
        if (cw >= min) place(c, at, cw, depth + 1);
        at += cw;
      });
    })(focus, 0, 1, base);
    graph.style.height = ((maxDepth + 1) * ROW) + "px";
    highlight();
  }
  function highlight() {
    var q = search.value.trim().toLowerCase();
    var els = graph.querySelectorAll(".frame");
    for (var k = 0; k < els.length; k++) els[k].classList.toggle("match", q !== "" && els[k].dataset.name.toLowerCase().indexOf(q) >= 0);
  }
  document.getElementById("reset").addEventListener("click", function () { render(root); });
  search.addEventListener("input", highlight);
  render(root);
  detail.textContent = describe(root).replace("\\n", "   ");
})();
</script>
</body>
</html>
`;
}

/**
 * The same flame graph as a static SVG (callers above callees, widths by time; each box's
 * `<title>` is its hover detail). No zoom: the HTML page has that.
 */
export function flameGraphSvg(profile: CpuProfile, options: FlameOptions = {}): string {
  const data = flameData(profile, options);
  const WIDTH = 1200;
  const ROW = 17;
  const TOP = 40;
  const total = data.totalUs || 1;
  // Lay the depth-first frames out: each child starts where its previous sibling ended.
  const next: number[] = [0];
  const boxes: string[] = [];
  let maxDepth = 0;
  for (const [name, loc, depth, t, self] of data.frames) {
    next.length = depth + 1;
    const x = next[depth] ?? 0;
    next[depth] = x + t;
    next[depth + 1] = x;
    const w = (t / total) * WIDTH;
    if (w < 0.5) continue;
    maxDepth = Math.max(maxDepth, depth);
    const label = data.names[name];
    const where = data.locations[loc];
    const detail = `${label}${where ? ` ${where}` : ""}\ntotal ${(t / 1000).toFixed(1)} ms (${((t / total) * 100).toFixed(1)}%), self ${(self / 1000).toFixed(1)} ms`;
    let h = 0;
    for (let k = 0; k < label.length; k++) h = (h * 31 + label.charCodeAt(k)) >>> 0;
    const fill = where.startsWith("node:") ? `hsl(${200 + (h % 30)},55%,${70 + (h % 10)}%)` : `hsl(${h % 50},85%,${60 + (h % 15)}%)`;
    const chars = Math.floor((w - 6) / 6.5);
    const text = chars >= 3 ? (label.length > chars ? `${label.slice(0, chars - 1)}…` : label) : "";
    const px = ((x / total) * WIDTH).toFixed(2);
    const py = TOP + depth * ROW;
    boxes.push(
      `<g><title>${escapeHtml(detail)}</title><rect x="${px}" y="${py}" width="${w.toFixed(2)}" height="${ROW - 1}" rx="2" fill="${fill}"/>${text ? `<text x="${(Number(px) + 3).toFixed(2)}" y="${py + 12}">${escapeHtml(text)}</text>` : ""}</g>`,
    );
  }
  const height = TOP + (maxDepth + 1) * ROW + 10;
  const title = options.title ?? "CPU profile";
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="11">
<text x="4" y="16" font-size="14">${escapeHtml(title)}</text>
<text x="4" y="32">${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s profiled; widths are time on the main thread${data.idleUs > 0 ? ` (idle time, ${(data.idleUs / 1e6).toFixed(1)} s, left out)` : ""}; hover a box for detail</text>
${boxes.join("\n")}
</svg>
`;
}
