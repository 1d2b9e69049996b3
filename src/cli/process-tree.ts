/**
 * Selecting and arranging live manholes: `--app NAME` (ls, exec --all, the operations' --all)
 * and `manhole ls --tree`, which puts each process under its parent (a cluster's primary over
 * its workers, a parent over the children it forked) when the parent has a manhole too.
 */
import type { ProcessRole } from "../shared/descriptor.js";

export interface Selectable {
  pid: number;
  /** The label `ls` shows: `name@version`, else the command line. */
  app: string;
  descriptor: { ppid?: number; app?: { name: string } | null; role?: ProcessRole };
}

/** `*` matches any run of characters; everything else literally. */
function glob(pattern: string): RegExp {
  const body = pattern
    .split("*")
    .map((part) => part.replace(/[\\^$.|?+()[\]{}]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${body}$`);
}

/**
 * Does `--app pattern` select this process? Its package name, or its whole label (`name@version`,
 * or the script and arguments of an app without a package), matched exactly or with `*`.
 */
export function matchesApp(entry: Selectable, pattern: string): boolean {
  const re = glob(pattern);
  const name = entry.descriptor.app?.name;
  return (typeof name === "string" && re.test(name)) || re.test(entry.app);
}

/** What `ls` says of a process's role: "worker 2" (cluster), "forked", "primary" (a cluster's parent). */
export function roleText(entry: Selectable, all: readonly Selectable[]): string {
  const role = entry.descriptor.role;
  if (role?.kind === "cluster-worker") return `worker ${role.id}`;
  if (role?.kind === "forked") return "forked";
  const workers = all.some((e) => e.descriptor.ppid === entry.pid && e.descriptor.role?.kind === "cluster-worker");
  return workers ? "primary" : "";
}

export interface TreeRow<T> {
  entry: T;
  depth: number;
  /** Drawn before the pid: "", "├─ ", "└─ ", "│  └─ "... */
  prefix: string;
}

/**
 * Every entry once, parents before their children, children in pid order under the nearest
 * listed ancestor's row. An entry whose parent has no manhole (or is itself) is a root.
 */
export function processTree<T extends Selectable>(entries: readonly T[]): TreeRow<T>[] {
  const byPid = new Map(entries.map((e) => [e.pid, e]));
  const children = new Map<number, T[]>();
  const roots: T[] = [];
  for (const e of entries) {
    const ppid = e.descriptor.ppid;
    if (typeof ppid === "number" && ppid !== e.pid && byPid.has(ppid)) {
      const list = children.get(ppid) ?? [];
      list.push(e);
      children.set(ppid, list);
    } else roots.push(e);
  }
  const rows: TreeRow<T>[] = [];
  const seen = new Set<number>();
  const visit = (e: T, depth: number, lead: string, branch: string) => {
    if (seen.has(e.pid)) return; // a pid cycle (pid reuse between descriptors) is drawn once
    seen.add(e.pid);
    rows.push({ entry: e, depth, prefix: lead + branch });
    const kids = (children.get(e.pid) ?? []).sort((a, b) => a.pid - b.pid);
    const nextLead = depth === 0 ? "" : lead + (branch === "└─ " ? "   " : "│  ");
    kids.forEach((k, i) => {
      visit(k, depth + 1, nextLead, i === kids.length - 1 ? "└─ " : "├─ ");
    });
  };
  for (const r of roots.sort((a, b) => a.pid - b.pid)) visit(r, 0, "", "");
  // Entries only reachable through a cycle: roots of their own.
  for (const e of entries) if (!seen.has(e.pid)) visit(e, 0, "", "");
  return rows;
}

/** `--tree --json`: each entry with its `children`, nested as the tree draws them. */
export function nestTree<T extends Selectable, J>(rows: readonly TreeRow<T>[], toJson: (e: T) => J): (J & { children: unknown[] })[] {
  const out: (J & { children: unknown[] })[] = [];
  const stack: (J & { children: unknown[] })[] = [];
  for (const row of rows) {
    const node = { ...toJson(row.entry), children: [] as unknown[] };
    stack.length = row.depth;
    if (row.depth === 0) out.push(node);
    else stack[row.depth - 1].children.push(node);
    stack.push(node);
  }
  return out;
}
