/**
 * The little of Node's inspector that `manhole attach` needs: is a loopback port taken, the
 * inspector's target list over HTTP, and a Chrome DevTools Protocol session over WebSocket
 * (the `ws` package, a dependency of the CLI only, loaded by attach alone) to evaluate
 * expressions in the target's main thread.
 */
import http from "node:http";
import net from "node:net";
import type WebSocketType from "ws";

export const INSPECTOR_HOST = "127.0.0.1";

/** Whether something accepts connections on 127.0.0.1:`port`. */
export function portOpen(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, INSPECTOR_HOST);
    const done = (open: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(open);
    };
    const timer = setTimeout(() => done(true), timeoutMs); // no refusal: something holds it
    s.once("connect", () => done(true));
    // Only a refusal says nobody listens: a listener that is closing can accept and drop a
    // connection (a reset) while its socket is still bound.
    s.once("error", (err: NodeJS.ErrnoException) => done(err.code !== "ECONNREFUSED"));
  });
}

/** GET http://127.0.0.1:`port``path` as JSON; rejects on refusal, a non-JSON answer, or after `timeoutMs`. */
export function getJson(port: number, path: string, timeoutMs = 1000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: INSPECTOR_HOST, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => {
        body += d;
        if (body.length > 1 << 20) req.destroy(new Error("answer too long"));
      });
      res.on("end", () => {
        try {
          resolve(JSON.parse(body));
        } catch {
          reject(new Error(`not an inspector (HTTP ${res.statusCode})`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("no answer")));
    req.on("error", reject);
  });
}

export interface InspectorTarget {
  webSocketDebuggerUrl: string;
  title?: string;
  url?: string;
}

/** The inspector's one target on `port`, or undefined when no inspector answers there. */
export async function inspectorTarget(port: number, timeoutMs = 1000): Promise<InspectorTarget | undefined> {
  try {
    const list = await getJson(port, "/json/list", timeoutMs);
    if (!Array.isArray(list)) return undefined;
    const target = list.find((t): t is InspectorTarget => typeof (t as InspectorTarget)?.webSocketDebuggerUrl === "string");
    return target;
  } catch {
    return undefined;
  }
}

/** Polls until an inspector answers on `port` (about every 2 ms); undefined at `deadline` (Date.now() ms). */
export async function waitForInspector(port: number, deadline: number, stillThere: () => boolean): Promise<InspectorTarget | undefined> {
  for (;;) {
    const target = await inspectorTarget(port, 200);
    if (target) return target;
    if (Date.now() >= deadline || !stillThere()) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Polls until nothing listens on `port`; false if it still does at `deadline`. */
export async function waitForPortClosed(port: number, deadline: number): Promise<boolean> {
  for (;;) {
    if (!(await portOpen(port, 200))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

let wsModule: typeof WebSocketType | undefined;
/** Loads `ws` (before the inspector opens, so that loading it is not part of the window). */
export function loadWebSocket(): typeof WebSocketType {
  wsModule ??= require("ws") as typeof WebSocketType;
  return wsModule;
}

interface Reply {
  id?: number;
  result?: {
    result?: { value?: unknown; description?: string };
    exceptionDetails?: { text?: string; exception?: { description?: string } };
  };
  error?: { message?: string };
}

/** One DevTools Protocol session. */
export class InspectorSession {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private closedError: Error | undefined;

  private constructor(private readonly ws: WebSocketType) {
    ws.on("message", (data) => {
      let msg: Reply;
      try {
        msg = JSON.parse(String(data)) as Reply;
      } catch {
        return;
      }
      if (msg.id === undefined) return;
      const waiter = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      waiter?.resolve(msg);
    });
    ws.on("close", () => this.fail(new Error("the inspector closed the connection")));
    ws.on("error", (err) => this.fail(err));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    for (const waiter of this.pending.values()) waiter.reject(err);
    this.pending.clear();
  }

  static open(url: string, timeoutMs: number): Promise<InspectorSession> {
    const WebSocket = loadWebSocket();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
      ws.once("open", () => resolve(new InspectorSession(ws)));
      ws.once("error", reject);
    });
  }

  /** Sends a command; with `wait` false, does not wait for the reply. */
  send(method: string, params: Record<string, unknown>, timeoutMs = 5000): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from the inspector to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Sends a command without waiting for (or expecting) a reply. */
  post(method: string, params: Record<string, unknown>): void {
    if (!this.closedError) this.ws.send(JSON.stringify({ id: ++this.nextId, method, params }));
  }

  /**
   * Runtime.evaluate in the main thread, with the console's `require` in scope; the value, or
   * throws what it threw. Without awaitPromise the answer comes even while the app's JavaScript
   * runs (the inspector interrupts it); awaiting a promise would need its event loop.
   */
  async evaluate(expression: string, timeoutMs = 5000, awaitPromise = false): Promise<unknown> {
    const reply = await this.send(
      "Runtime.evaluate",
      { expression, includeCommandLineAPI: true, returnByValue: true, awaitPromise, silent: true },
      timeoutMs,
    );
    if (reply.error) throw new Error(`inspector: ${reply.error.message ?? "error"}`);
    const details = reply.result?.exceptionDetails;
    if (details) throw new Error(details.exception?.description?.split("\n")[0] ?? details.text ?? "the evaluation threw");
    return reply.result?.result?.value;
  }

  close(): void {
    this.ws.terminate();
  }
}
