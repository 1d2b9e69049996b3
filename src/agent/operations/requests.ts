import diagnosticsChannel from "node:diagnostics_channel";
import { formatDuration } from "../../shared/duration.js";
import type { Operation } from "./types.js";

/** An in-flight request, as kept on the main thread (the app's objects stay there). */
interface Tracked {
  direction: "server" | "client";
  via: "http" | "fetch";
  method: string;
  url: string;
  /** performance.now() when it started. */
  started: number;
  /** Server: the client's address. Client: the origin asked. */
  peer: string;
  /** The app's object, to tell later whether it has ended without an event (an aborted request). */
  ended: () => boolean;
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
  const address = (host: unknown, port: unknown) =>
    host === undefined ? "?" : String(host).includes(":") ? `[${host}]:${port}` : `${host}:${port}`;

  on("http.server.request.start", (m) => {
    const req = m.request as { method?: string; url?: string; socket?: { remoteAddress?: string; remotePort?: number } };
    const res = m.response as { writableFinished?: boolean; destroyed?: boolean };
    add(res, {
      direction: "server",
      via: "http",
      method: req.method ?? "?",
      url: req.url ?? "?",
      started: performance.now(),
      peer: address(req.socket?.remoteAddress, req.socket?.remotePort),
      ended: () => res.writableFinished === true || res.destroyed === true,
    });
  });
  on("http.server.response.finish", (m) => remove(m, "response"));
  on("http.client.request.start", (m) => {
    const req = m.request as { method?: string; path?: string; host?: string; protocol?: string; destroyed?: boolean };
    add(req, {
      direction: "client",
      via: "http",
      method: req.method ?? "?",
      url: `${req.protocol ?? "http:"}//${req.host ?? "?"}${req.path ?? ""}`,
      started: performance.now(),
      peer: req.host ?? "?",
      ended: () => req.destroyed === true,
    });
  });
  on("http.client.response.finish", (m) => remove(m, "request"));
  // fetch() (undici): done once the response headers are in, or on error.
  on("undici:request:create", (m) => {
    const req = m.request as { method?: string; origin?: string; path?: string; completed?: boolean; aborted?: boolean };
    add(req, {
      direction: "client",
      via: "fetch",
      method: req.method ?? "?",
      url: `${req.origin ?? ""}${req.path ?? ""}`,
      started: performance.now(),
      peer: String(req.origin ?? "?"),
      ended: () => req.completed === true || req.aborted === true,
    });
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
      if (t.ended()) {
        state.tracker.inFlight.delete(key);
        continue;
      }
      const ageMs = Math.round(now - t.started);
      listed.push({ direction: t.direction, via: t.via, method: t.method, url: t.url, ageMs, peer: t.peer, slow: ageMs >= slow });
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
