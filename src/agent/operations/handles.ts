import { formatDuration } from "../../shared/duration.js";
import type { InspectorAccess, Operation, OperationContext } from "./types.js";

/** One thing the process holds or waits on, as far as its object tells. */
export interface HandleInfo {
  kind: "server" | "socket" | "stdio" | "child" | "watcher" | "timer" | "port" | "fs" | "dns" | "other";
  /** The object's class (Server, Socket, ChildProcess, FSWatcher, FSReqCallback, ...). */
  type: string;
  /** Keeps the process alive (ref'd); null when the object does not tell. */
  ref: boolean | null;
  /** One line for people: address, pid and command, delay... */
  detail: string;
  [field: string]: unknown;
}

interface Collected {
  /** process.getActiveResourcesInfo(), counted by type name (timers included). */
  counts: Record<string, number>;
  /** From process._getActiveHandles() and _getActiveRequests() (no timers); null when Node lacks them. */
  items: HandleInfo[] | null;
}

/**
 * The main thread's handles and requests. Self-contained (globals only): while the loop is
 * blocked it runs through the inspector instead of the relay.
 */
function collect(input: unknown): Collected {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  const p = process as unknown as { _getActiveHandles?: () => object[]; _getActiveRequests?: () => object[] };
  if (typeof p._getActiveHandles !== "function") return { counts, items: null };
  // Counts only (`limit` 0, as `manhole top` asks every second): no object is described.
  if ((input as { limit?: number } | null)?.limit === 0) return { counts, items: [] };
  const address = (host: unknown, port: unknown) =>
    host === undefined ? "?" : String(host).includes(":") ? `[${String(host)}]:${String(port)}` : `${String(host)}:${String(port)}`;
  const refOf = (h: { hasRef?: () => boolean; _handle?: { hasRef?: () => boolean } }) =>
    typeof h.hasRef === "function" ? h.hasRef() : typeof h._handle?.hasRef === "function" ? h._handle.hasRef() : null;
  const items: HandleInfo[] = [];
  for (const h of p._getActiveHandles()) {
    const any = h as Record<string, unknown> & { constructor?: { name?: string } };
    const type = any.constructor?.name ?? "Object";
    const ref = refOf(any as never);
    try {
      if (typeof any.listen === "function" && typeof any.address === "function") {
        const a = (any.address as () => unknown)();
        const where = a && typeof a === "object" ? address((a as { address: string }).address, (a as { port: number }).port) : String(a);
        const connections = typeof any._connections === "number" ? (any._connections as number) : null;
        items.push({
          kind: "server",
          type,
          ref,
          detail: `listening on ${where}, ${connections ?? "?"} connections`,
          address: where,
          connections,
        });
      } else if (h === process.stdin || h === process.stdout || h === process.stderr) {
        const name = h === process.stdin ? "stdin" : h === process.stdout ? "stdout" : "stderr";
        items.push({ kind: "stdio", type, ref, detail: name, name });
      } else if ("remoteAddress" in any || "bytesRead" in any) {
        const local = any.localPort === undefined ? String(any.localAddress ?? "pipe") : address(any.localAddress, any.localPort);
        const remote = any.remotePort === undefined ? String(any.remoteAddress ?? "?") : address(any.remoteAddress, any.remotePort);
        const bytesRead = Number(any.bytesRead ?? 0);
        const bytesWritten = Number(any.bytesWritten ?? 0);
        items.push({
          kind: "socket",
          type,
          ref,
          detail: `${local} ⇄ ${remote}, read ${bytesRead} B, written ${bytesWritten} B`,
          local,
          remote,
          bytesRead,
          bytesWritten,
        });
      } else if (typeof any.pid === "number" && Array.isArray(any.spawnargs)) {
        const command = (any.spawnargs as string[]).join(" ");
        items.push({ kind: "child", type, ref, detail: `pid ${any.pid}: ${command}`, pid: any.pid, command });
      } else if (type === "FSWatcher" || type === "StatWatcher") {
        items.push({ kind: "watcher", type, ref, detail: type === "FSWatcher" ? "fs.watch" : "fs.watchFile" });
      } else if (type === "MessagePort" || type === "Worker") {
        items.push({ kind: "port", type, ref, detail: type === "Worker" ? `worker thread ${String(any.threadId)}` : "message port" });
      } else {
        items.push({ kind: "other", type, ref, detail: type });
      }
    } catch (err) {
      items.push({ kind: "other", type, ref, detail: `${type} (unreadable: ${String(err)})` });
    }
  }
  for (const r of p._getActiveRequests?.() ?? []) {
    const any = r as Record<string, unknown> & { constructor?: { name?: string } };
    const type = any.constructor?.name ?? "Object";
    if (type.startsWith("FSReq")) items.push({ kind: "fs", type, ref: true, detail: "file system request" });
    else if (type === "GetAddrInfoReqWrap" || type === "QueryReqWrap" || type === "GetNameInfoReqWrap")
      items.push({
        kind: "dns",
        type,
        ref: true,
        detail: `dns lookup${any.hostname ? ` of ${String(any.hostname)}` : ""}`,
        hostname: any.hostname ?? null,
      });
    else items.push({ kind: "other", type, ref: true, detail: type });
  }
  return { counts, items };
}

interface Timers {
  items: HandleInfo[];
  /** How long the inspector held the main thread to find them. */
  pausedMs: number;
}

/** Every live timer of the main thread, found by prototype with the inspector (Runtime.queryObjects). */
async function findTimers(inspector: InspectorAccess): Promise<Timers> {
  type Remote = { result: { objectId?: string; value?: unknown }; exceptionDetails?: { text: string } };
  const started = performance.now();
  const proto = await inspector.post<Remote>("Runtime.evaluate", {
    expression: "(() => { const t = setTimeout(() => {}, 0); clearTimeout(t); return Object.getPrototypeOf(t); })()",
    silent: true,
    objectGroup: "manhole-handles",
  });
  try {
    if (!proto.result.objectId) throw new Error(proto.exceptionDetails?.text ?? "no timer prototype");
    const found = await inspector.post<{ objects: { objectId: string } }>("Runtime.queryObjects", {
      prototypeObjectId: proto.result.objectId,
      objectGroup: "manhole-handles",
    });
    const pausedMs = performance.now() - started;
    const listed = await inspector.post<Remote>("Runtime.callFunctionOn", {
      objectId: found.objects.objectId,
      returnByValue: true,
      silent: true,
      functionDeclaration: `function () {
        return this.filter((t) => !t._destroyed && t._idleTimeout >= 0).map((t) => {
          const fn = t._onTimeout;
          const source = typeof fn === "function" ? String(fn).replace(/\\s+/g, " ").slice(0, 60) : "";
          return { delay: t._idleTimeout, repeat: t._repeat ?? null, ref: typeof t.hasRef === "function" ? t.hasRef() : null,
                   callback: (fn && fn.name) || "(anonymous)", source };
        });
      }`,
    });
    const raw = (listed.result.value ?? []) as {
      delay: number;
      repeat: number | null;
      ref: boolean | null;
      callback: string;
      source: string;
    }[];
    const items: HandleInfo[] = raw.map((t) => ({
      kind: "timer",
      type: "Timeout",
      ref: t.ref,
      detail: `${t.repeat ? "every" : "in"} ${formatDuration(t.delay)}: ${t.callback}${t.callback === "(anonymous)" ? ` ${t.source}` : ""}`,
      delayMs: t.delay,
      repeat: t.repeat !== null,
      callback: t.callback,
      source: t.source,
    }));
    return { items, pausedMs: Math.round(pausedMs) };
  } finally {
    await inspector.post("Runtime.releaseObjectGroup", { objectGroup: "manhole-handles" }).catch(() => {});
  }
}

const ORDER: HandleInfo["kind"][] = ["server", "socket", "child", "watcher", "timer", "fs", "dns", "port", "stdio", "other"];

export const handles: Operation = {
  name: "handles",
  help: "What keeps the process alive and what it waits on: servers, sockets, timers, child processes, watchers, pending requests",
  args: [
    {
      name: "all",
      type: "boolean",
      help: "thorough: also every timer, with its delay and callback (the inspector pauses the main thread for about 0.1 s)",
      default: false,
    },
    { name: "limit", type: "number", help: "list at most this many", default: 50 },
  ],
  runsOn: "main-or-socket",
  observeSafe: true,
  heavy: false,
  main: collect,
  async run(ctx) {
    const got = (await ctx.callMain({ limit: ctx.args.limit })) as Collected;
    let timers: Timers | undefined;
    let timersNote: string | undefined;
    if (ctx.args.all) {
      if (ctx.withInspector) timers = await ctx.withInspector(findTimers);
      else timersNote = "timers are listed only in threaded mode (the inspector runs in the manhole's worker)";
    }
    return render(ctx, got, timers, timersNote);
  },
};

function render(ctx: OperationContext, got: Collected, timers: Timers | undefined, timersNote: string | undefined) {
  const items = [...(got.items ?? []), ...(timers?.items ?? [])].sort((a, b) => ORDER.indexOf(a.kind) - ORDER.indexOf(b.kind));
  const limit = Math.max(0, Math.floor(ctx.args.limit as number));
  const total = Object.values(got.counts).reduce((a, b) => a + b, 0);
  const counts = Object.entries(got.counts)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(", ");
  const lines = [`${total} active resources: ${counts || "none"}`];
  if (got.items === null) lines.push("(this Node has no process._getActiveHandles(): only the counts above are known)");
  for (const item of items.slice(0, limit))
    lines.push(`  ${item.kind.padEnd(7)} ${item.ref === false ? "unref " : "      "}${item.detail}`);
  if (items.length > limit) lines.push(`  … and ${items.length - limit} more`);
  if (!timers && got.items !== null && !timersNote)
    lines.push("(timers are counted, not listed: .handles --all lists them, pausing the main thread briefly)");
  if (timers) lines.push(`(timers found through the inspector; the main thread was held ${timers.pausedMs} ms)`);
  if (timersNote) lines.push(`(${timersNote})`);
  const loop = ctx.loopState();
  if (loop?.blocked) lines.push(`(the event loop is blocked for ${formatDuration(loop.sinceMs)}: read through the inspector)`);
  return {
    text: lines.join("\n"),
    json: {
      counts: got.counts,
      total,
      items: items.slice(0, limit),
      more: Math.max(0, items.length - limit),
      detailed: got.items !== null,
      timers: timers ? { listed: true, pausedMs: timers.pausedMs } : { listed: false },
      loop: loop ?? null,
    },
  };
}
