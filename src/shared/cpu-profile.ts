/**
 * A V8 CPU profile (`.cpuprofile`, the Profiler domain's format) read as time per function:
 * self time (samples in the function itself) and total time (samples with the function anywhere
 * on the stack, counted once however deep it recurses). Pure: used by the agent's `.profile`
 * summary and by the CLI's flame graph.
 */

export interface CallFrame {
  functionName: string;
  scriptId: string | number;
  url: string;
  /** 0-based, as V8 gives them. */
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** µs */
  startTime: number;
  endTime: number;
  samples?: number[];
  /** µs between samples (the first: since startTime). */
  timeDeltas?: number[];
}

export interface FunctionTime {
  name: string;
  /** `file:line:column` (1-based), or "" for V8's own entries: (program), (garbage collector). */
  location: string;
  selfMs: number;
  totalMs: number;
  /** Shares of the whole profile (0..1). */
  self: number;
  total: number;
}

export interface ProfileSummary {
  durationMs: number;
  samples: number;
  /** The mean time between samples, in µs. */
  meanIntervalUs: number | null;
  /** Shares of the profile's time: idle (the loop waited), gc, program (V8 and native), JavaScript (the rest). */
  idle: number;
  gc: number;
  program: number;
  bySelf: FunctionTime[];
  byTotal: FunctionTime[];
}

/** V8's names for what is not a JavaScript function. */
export const META_FRAMES = new Set(["(root)", "(idle)", "(program)", "(garbage collector)"]);

export function frameName(cf: CallFrame): string {
  return cf.functionName || "(anonymous)";
}

export function frameLocation(cf: CallFrame): string {
  if (!cf.url) return "";
  const file = cf.url.startsWith("file://") ? decodeURIComponent(cf.url.slice("file://".length)) : cf.url;
  return `${file}:${cf.lineNumber + 1}:${cf.columnNumber + 1}`;
}

const keyOf = (cf: CallFrame) => `${cf.functionName}\u0000${cf.url}\u0000${cf.lineNumber}\u0000${cf.columnNumber}`;

/** Each node's self time in µs, from its samples (each lasts until the next one; the last until endTime). */
export function selfTimes(p: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  if (samples.length === 0) {
    // No sample list: hit counts at the mean interval.
    const hits = p.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
    const each = hits ? (p.endTime - p.startTime) / hits : 0;
    for (const node of p.nodes) self.set(node.id, (node.hitCount ?? 0) * each);
    return self;
  }
  let t = p.startTime;
  const times = samples.map((_, i) => {
    t += deltas[i] ?? 0;
    return t;
  });
  for (let i = 0; i < samples.length; i++) {
    const next = i + 1 < samples.length ? times[i + 1] : Math.max(p.endTime, times[i]);
    const d = Math.max(0, next - times[i]);
    self.set(samples[i], (self.get(samples[i]) ?? 0) + d);
  }
  return self;
}

/** The root: the one node no other names as a child. */
export function rootOf(p: CpuProfile): ProfileNode {
  const children = new Set<number>();
  for (const n of p.nodes) for (const c of n.children ?? []) children.add(c);
  const root = p.nodes.find((n) => !children.has(n.id));
  if (!root) throw new Error("a CPU profile without a root node");
  return root;
}

export function summariseProfile(p: CpuProfile, top = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = selfTimes(p);
  const whole = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, { cf: CallFrame; self: number; total: number }>();
  const fn = (cf: CallFrame) => {
    const k = keyOf(cf);
    const found = fns.get(k);
    if (found) return found;
    const f = { cf, self: 0, total: 0 };
    fns.set(k, f);
    return f;
  };
  // Subtree times, children before parents (iterative: a deep recursion must not overflow).
  const subtree = new Map<number, number>();
  const order: ProfileNode[] = [];
  const stack = [rootOf(p)];
  while (stack.length) {
    const n = stack.pop() as ProfileNode;
    order.push(n);
    for (const c of n.children ?? []) {
      const child = byId.get(c);
      if (child) stack.push(child);
    }
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    let t = self.get(n.id) ?? 0;
    for (const c of n.children ?? []) t += subtree.get(c) ?? 0;
    subtree.set(n.id, t);
  }
  // Total: a function's outermost occurrences on each path (recursion counted once).
  const onPath = new Map<string, number>();
  const walk: { node: ProfileNode; leave: boolean }[] = [{ node: rootOf(p), leave: false }];
  while (walk.length) {
    const { node, leave } = walk.pop() as { node: ProfileNode; leave: boolean };
    const k = keyOf(node.callFrame);
    if (leave) {
      onPath.set(k, (onPath.get(k) ?? 1) - 1);
      continue;
    }
    const f = fn(node.callFrame);
    f.self += self.get(node.id) ?? 0;
    if (!onPath.get(k)) f.total += subtree.get(node.id) ?? 0;
    onPath.set(k, (onPath.get(k) ?? 0) + 1);
    walk.push({ node, leave: true });
    for (const c of node.children ?? []) {
      const child = byId.get(c);
      if (child) walk.push({ node: child, leave: false });
    }
  }
  const share = (name: string) =>
    [...fns.values()].filter((f) => f.cf.functionName === name).reduce((a, f) => a + f.self, 0) / (whole || 1);
  const list = [...fns.values()]
    .filter((f) => !META_FRAMES.has(f.cf.functionName) || f.cf.functionName === "(garbage collector)" || f.cf.functionName === "(program)")
    .map(
      (f): FunctionTime => ({
        name: frameName(f.cf),
        location: frameLocation(f.cf),
        selfMs: f.self / 1000,
        totalMs: f.total / 1000,
        self: f.self / (whole || 1),
        total: f.total / (whole || 1),
      }),
    );
  const samples = p.samples?.length ?? 0;
  return {
    durationMs: (p.endTime - p.startTime) / 1000,
    samples,
    meanIntervalUs: samples > 1 ? (p.endTime - p.startTime) / samples : null,
    idle: share("(idle)"),
    gc: share("(garbage collector)"),
    program: share("(program)"),
    bySelf: [...list].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    byTotal: list
      .filter((f) => !META_FRAMES.has(f.name))
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, top),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`.padStart(6);
const ms = (x: number) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`).padStart(8);

/** The summary as a person reads it: the split, then the top functions by self and by total time. */
export function profileText(s: ProfileSummary): string {
  const js = Math.max(0, 1 - s.idle - s.gc - s.program);
  const lines = [
    `${(s.durationMs / 1000).toFixed(1)} s, ${s.samples} samples${s.meanIntervalUs ? ` (one every ${Math.round(s.meanIntervalUs)} µs)` : ""}: JavaScript ${pct(js).trim()}, idle ${pct(s.idle).trim()}, GC ${pct(s.gc).trim()}, V8/native ${pct(s.program).trim()}`,
  ];
  const table = (title: string, rows: FunctionTime[]) => {
    lines.push(title, "      self            total        function (location)");
    for (const r of rows) {
      lines.push(`  ${ms(r.selfMs)} ${pct(r.self)}  ${ms(r.totalMs)} ${pct(r.total)}  ${r.name}${r.location ? ` (${r.location})` : ""}`);
    }
    if (rows.length === 0) lines.push("  (no samples)");
  };
  table(`top ${s.bySelf.length} by self time:`, s.bySelf);
  table(`top ${s.byTotal.length} by total time:`, s.byTotal);
  return lines.join("\n");
}
