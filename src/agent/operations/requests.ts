import diagnosticsChannel from "node:diagnostics_channel";
import { formatDuration } from "../../shared/duration.js";
import type { Operation } from "./types.js";

/**
 * An in-flight request, as kept on the main thread (the app's objects stay there): only what
 * the channel handed over and when, since this runs for every request of a busy server; its
 * method, URL and peer are read from the objects when listed.
 */
interface Tracked {
  kind: "server" | "client" | "fetch";
  /** The app's request object (server: its IncomingMessage; client: its ClientRequest or undici request). */
  req: Record<string, unknown>;
  /** Server: the response, which tells when it has ended. */
  res?: { writableFinished?: boolean; destroyed?: boolean };
  /** performance.now() when it started. */
  started: number;
}

const address = (host: unknown, port: unknown) =>
  host === undefined ? "?" : String(host).includes(":") ? `[${host}]:${port}` : `${host}:${port}`;

/** Whether a tracked request has ended without its event (an aborted one). */
function ended(t: Tracked): boolean {
  if (t.kind === "server") return t.res?.writableFinished === true || t.res?.destroyed === true;
  if (t.kind === "client") return t.req.destroyed === true;
  return t.req.completed === true || t.req.aborted === true;
}

/** What the listing shows of a tracked request, read from the app's objects now. */
function described(t: Tracked): Pick<RequestInfo, "direction" | "via" | "method" | "url" | "peer"> {
  const r = t.req;
  const method = String(r.method ?? "?");
  if (t.kind === "server") {
    const socket = r.socket as { remoteAddress?: string; remotePort?: number } | undefined;
    return {
      direction: "server",
      via: "http",
      method,
      url: String(r.url ?? "?"),
      peer: address(socket?.remoteAddress, socket?.remotePort),
    };
  }
  if (t.kind === "client") {
    const host = String(r.host ?? "?");
    return { direction: "client", via: "http", method, url: `${r.protocol ?? "http:"}//${host}${r.path ?? ""}`, peer: host };
  }
  return { direction: "client", via: "fetch", method, url: `${r.origin ?? ""}${r.path ?? ""}`, peer: String(r.origin ?? "?") };
}

export interface RequestInfo {
  direction: "server" | "client";
  via: "http" | "fetch";
  method: string;
  url: string;
  ageMs: number;
  peer: string;
  /** Older than the threshold (`slow`). */
  slow: boolean;
}

/** Kept until the manhole closes: what the channels told, and how to unsubscribe. */
interface Tracker {
  since: number;
  inFlight: Map<object, Tracked>;
  unsubscribe(): void;
}

/** At most this many tracked at once: beyond it the oldest are dropped (a leak in the app must not become ours). */
const MAX_TRACKED = 10_000;

type Message = Record<string, unknown>;
type Listener = (message: unknown) => void;

function track(): Tracker {
  const inFlight = new Map<object, Tracked>();
  const subscriptions: [string, Listener][] = [];
  const on = (name: string, fn: (m: Message) => void) => {
    const listener: Listener = (m) => {
      try {
        fn(m as Message);
      } catch {
        // an observer never breaks the app's request
      }
    };
    diagnosticsChannel.subscribe(name, listener);
    subscriptions.push([name, listener]);
  };
  const add = (key: object, t: Tracked) => {
    if (inFlight.size >= MAX_TRACKED) inFlight.delete(inFlight.keys().next().value as object);
    inFlight.set(key, t);
  };
  const remove = (m: Message, key: string) => {
    if (m[key]) inFlight.delete(m[key] as object);
  };

  on("http.server.request.start", (m) => {
    const res = m.response as Tracked["res"] & object;
    add(res, { kind: "server", req: m.request as Tracked["req"], res, started: performance.now() });
  });
  on("http.server.response.finish", (m) => remove(m, "response"));
  on("http.client.request.start", (m) => {
    const req = m.request as Tracked["req"];
    add(req, { kind: "client", req, started: performance.now() });
  });
  on("http.client.response.finish", (m) => remove(m, "request"));
  // fetch() (undici): done once the response headers are in, or on error.
  on("undici:request:create", (m) => {
    const req = m.request as Tracked["req"];
    add(req, { kind: "fetch", req, started: performance.now() });
  });
  on("undici:request:headers", (m) => remove(m, "request"));
  on("undici:request:error", (m) => remove(m, "request"));
  return {
    since: Date.now(),
    inFlight,
    unsubscribe: () => {
      for (const [name, listener] of subscriptions) diagnosticsChannel.unsubscribe(name, listener);
      inFlight.clear();
    },
  };
}

interface Listed {
  sinceMs: number;
  first: boolean;
  requests: RequestInfo[];
}

export const requests: Operation = {
  name: "requests",
  help: "In-flight HTTP requests, served and made (http, https, fetch), oldest first: which request is stuck?",
  args: [
    { name: "slow", type: "duration", unit: "s", help: "requests older than this are listed first, marked slow", default: 1000 },
    { name: "limit", type: "number", help: "list at most this many of each direction", default: 50 },
  ],
  runsOn: "main",
  observeSafe: true,
  heavy: false,
  keep: {
    create: () => ({ tracker: undefined as Tracker | undefined }),
    dispose: (state) => (state as { tracker?: Tracker }).tracker?.unsubscribe(),
  },
  main(input, ctx): Listed {
    const state = ctx.kept as { tracker?: Tracker };
    const first = !state.tracker;
    state.tracker ??= track();
    const { slow } = input as { slow: number };
    const now = performance.now();
    const listed: RequestInfo[] = [];
    for (const [key, t] of state.tracker.inFlight) {
      if (ended(t)) {
        state.tracker.inFlight.delete(key);
        continue;
      }
      const ageMs = Math.round(now - t.started);
      listed.push({ ...described(t), ageMs, slow: ageMs >= slow });
    }
    listed.sort((a, b) => b.ageMs - a.ageMs);
    return { sinceMs: Date.now() - state.tracker.since, first, requests: listed };
  },
  async run(ctx) {
    const slow = ctx.args.slow as number;
    const limit = Math.max(0, Math.floor(ctx.args.limit as number));
    const got = (await ctx.callMain({ slow })) as Listed;
    const server = got.requests.filter((r) => r.direction === "server");
    const client = got.requests.filter((r) => r.direction === "client");
    const slowCount = got.requests.filter((r) => r.slow).length;
    const lines = [
      `${server.length} served and ${client.length} outgoing requests in flight${slowCount ? `, ${slowCount} older than ${formatDuration(slow)}` : ""}`,
    ];
    const list = (title: string, rs: RequestInfo[]) => {
      if (rs.length === 0) return;
      lines.push(`${title}:`);
      for (const r of rs.slice(0, limit))
        lines.push(
          `  ${r.slow ? "SLOW " : "     "}${formatDuration(r.ageMs).padStart(7)}  ${r.method} ${r.url}  ${r.direction === "server" ? "from" : "to"} ${r.peer}${r.via === "fetch" ? " (fetch)" : ""}`,
        );
      if (rs.length > limit) lines.push(`  … and ${rs.length - limit} more`);
    };
    list("served (oldest first)", server);
    list("outgoing (oldest first)", client);
    if (got.first) lines.push("(tracking starts now, through diagnostics_channel: requests that began before are not seen)");
    else lines.push(`(tracked through diagnostics_channel for ${formatDuration(got.sinceMs)})`);
    return {
      text: lines.join("\n"),
      json: {
        trackingMs: got.sinceMs,
        slowMs: slow,
        server: server.slice(0, limit),
        client: client.slice(0, limit),
        more: Math.max(0, server.length - limit) + Math.max(0, client.length - limit),
      },
    };
  },
};
