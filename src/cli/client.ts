/**
 * A client of the structured protocol (src/protocol/structured.ts), used by every CLI command:
 * connects to a socket, says hello past the human banner, and turns requests into promises.
 */
import fs from "node:fs";
import net from "node:net";
import { StringDecoder } from "node:string_decoder";
import tls from "node:tls";
import type { ArtifactFrame, CommandInfo, Confirmation, ErrorInfo, Reply, Request, SessionEffect } from "../protocol/structured.js";
import { PROTOCOL_VERSION } from "../protocol/version.js";
import { CliError, EXIT } from "./errors.js";
import { parseRemote, startTransport, type Transport } from "./remote.js";

export type HelloReply = Extract<Reply, { op: "hello" }>;

export interface EvalOutcome {
  ok: boolean;
  /** Display text: the inspected value, or `Uncaught ...`. */
  text: string;
  /** The value as JSON, when it could be serialised. */
  json?: unknown;
  error?: ErrorInfo;
}

/** A manhole's TCP listener (see the agent's tcp option): where, the token, and TLS settings. */
export interface TcpEndpoint {
  host: string;
  port: number;
  token: string;
  /** Connect with TLS; `insecure` skips certificate verification, `ca` is a PEM file to trust. */
  tls?: { insecure: boolean; ca?: string };
}

/** `127.0.0.1:4000`, `[::1]:4000`. */
export function endpointLabel(e: { host: string; port: number }): string {
  return net.isIPv6(e.host) ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function openSocket(socketPath: string, tcp: TcpEndpoint | undefined): { socket: net.Socket; connectEvent: string } {
  if (!tcp) return { socket: net.connect(socketPath), connectEvent: "connect" };
  if (!tcp.tls) return { socket: net.connect({ host: tcp.host, port: tcp.port }), connectEvent: "connect" };
  const socket = tls.connect({
    host: tcp.host,
    port: tcp.port,
    rejectUnauthorized: !tcp.tls.insecure,
    ...(tcp.tls.ca ? { ca: fs.readFileSync(tcp.tls.ca, "utf8") } : {}),
    ...(net.isIP(tcp.host) ? {} : { servername: tcp.host }),
  });
  return { socket, connectEvent: "secureConnect" };
}

/** What the client talks through: a socket, or a transport process's stdio (a remote target). */
interface Wire {
  readable: NodeJS.ReadableStream;
  write(text: string): void;
  end(): void;
  destroy(): void;
  /** Resolves once the connection has ended, with the transport's error if it failed. */
  ended: Promise<CliError | undefined>;
}

function socketWire(socket: net.Socket): Wire {
  return {
    readable: socket,
    write: (text) => socket.write(text),
    end: () => socket.end(),
    destroy: () => socket.destroy(),
    ended: new Promise((resolve) => socket.once("close", () => resolve(undefined))),
  };
}

function transportWire(t: Transport): Wire {
  return {
    readable: t.readable,
    write: (text) => t.writable.write(text),
    end: () => {
      t.writable.end();
      // The far side ends when its manhole closes the connection; do not wait forever for it.
      setTimeout(() => t.kill(), 5000).unref();
    },
    destroy: () => t.kill(),
    ended: t.ended,
  };
}

/**
 * Opens the connection `socketPath` names: a remote URL (ssh://, kube://, docker://) starts its
 * transport running `manhole bridge` on the far side; else a TCP endpoint or a Unix socket.
 * `ready` is the event that says the wire is up (for a transport: at once, since bytes written
 * wait in the pipe until the far side reads them).
 */
function openWire(
  socketPath: string,
  tcp: TcpEndpoint | undefined,
): { wire: Wire; ready: (go: () => void) => void; failed: (fail: (err: NodeJS.ErrnoException) => void) => void; remote: boolean } {
  const remote = parseRemote(socketPath);
  if (remote) {
    if (remote.target === "")
      throw new CliError(
        EXIT.usage,
        `${socketPath}: name a pid or socket path on the far side (e.g. ${socketPath.replace(/\/?$/, "/4242")})`,
      );
    const args = ["bridge", ...(remote.signal ? ["--signal", remote.signal] : []), "--", remote.target];
    const t = startTransport(remote.location, args, socketPath);
    return { wire: transportWire(t), ready: (go) => process.nextTick(go), failed: () => {}, remote: true };
  }
  const { socket, connectEvent } = openSocket(socketPath, tcp);
  return {
    wire: socketWire(socket),
    ready: (go) => socket.once(connectEvent, go),
    failed: (fail) => socket.once("error", fail),
    remote: false,
  };
}

type EventReply = Extract<Reply, { op: "event" }>;
type Waiter = {
  resolve(reply: Reply): void;
  onOutput?: (text: string) => void;
  onEvent?: (event: EventReply) => void;
  onArtifact?: (frame: ArtifactFrame) => void;
};
type RequestBody = Request extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** The answer to our hello: a hello, or an error (e.g. ProtocolVersionMismatch). */
const HELLO_MARK = /\{"op":"(?:hello|error)"/;

export class ManholeClient {
  private buffer = "";
  private greeted = false;
  /** What the agent said before our hello's answer (a refusal such as a wrong token is there). */
  private preamble = "";
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private closedError: Error | undefined;
  /** Output printed by manhole code between requests (timers, promises). */
  onAsyncOutput: (text: string) => void = () => {};
  /** An input of ours waits for the app's blocked event loop (the agent's notice, ready to print). */
  onBlocked: (text: string) => void = () => {};
  /** The session changed by itself (the worker it was in exited): the agent's `session` reply. */
  onSession: (effect: SessionEffect, text: string) => void = () => {};
  /** The connection ended (by either side). */
  onClose: () => void = () => {};
  info!: HelloReply;

  private constructor(
    private readonly wire: Wire,
    readonly path: string,
  ) {}

  /** Connects to `socketPath` and negotiates the protocol; errors are CliErrors with exit codes. */
  /** With `tcp`, connects to that TCP listener instead (`socketPath` is then only its label) and sends the token. */
  /** A remote URL (`ssh://host/4242`, `kube://pod/1`, `docker://web/1`) goes through its transport (remote.ts). */
  static connect(socketPath: string, { timeoutMs = 5000, tcp }: { timeoutMs?: number; tcp?: TcpEndpoint } = {}): Promise<ManholeClient> {
    return new Promise((resolve, reject) => {
      const { wire, ready, failed, remote } = openWire(socketPath, tcp);
      const client = new ManholeClient(wire, socketPath);
      const timer = setTimeout(() => {
        wire.destroy();
        reject(
          new CliError(
            EXIT.timeout,
            `${socketPath}: no answer within ${timeoutMs} ms (the process may be blocked without a threaded manhole)`,
          ),
        );
      }, timeoutMs);
      failed((err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(connectError(socketPath, err, tcp !== undefined));
      });
      ready(() => {
        // Decoded across reads: a character split between two chunks stays one character.
        const decoder = new StringDecoder("utf8");
        wire.readable.on("data", (d: Buffer) => client.onData(decoder.write(d)));
        wire.ended.then(() => client.closed());
        const token = tcp ? { token: tcp.token } : {};
        client.request({ op: "hello", protocol: [PROTOCOL_VERSION], client: "manhole-cli", ...token }).then(async (reply) => {
          if (reply.op === "hello") {
            clearTimeout(timer);
            client.info = reply;
            resolve(client);
            return;
          }
          if (remote && reply.op === "bye") {
            // The transport ended first: its exit code and stderr say why (not installed, unreachable...).
            const failure = await wire.ended;
            if (failure) {
              clearTimeout(timer);
              reject(failure);
              return;
            }
          }
          clearTimeout(timer);
          wire.destroy();
          const refusal = /manhole: (.*)/.exec(client.preamble + client.buffer);
          if (reply.op === "bye" && refusal) {
            const denied = /wrong token|failed attempts|permission denied/.test(refusal[1]);
            reject(new CliError(denied ? EXIT.permission : EXIT.failure, `${socketPath}: ${refusal[1]}`));
            return;
          }
          const name = reply.op === "error" ? reply.error?.name : undefined;
          const message = reply.op === "error" ? (reply.text ?? reply.error?.message) : `unexpected reply ${reply.op}`;
          reject(new CliError(name === "ProtocolVersionMismatch" ? EXIT.protocol : EXIT.failure, `${socketPath}: ${message}`));
        }, reject);
      });
    });
  }

  private onData(text: string): void {
    this.buffer += text;
    if (!this.greeted) {
      // Skip the human banner and prompt that precede our hello's answer.
      const at = this.buffer.search(HELLO_MARK);
      if (at < 0) return;
      this.preamble = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at);
      this.greeted = true;
    }
    for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.trim() === "") continue;
      let reply: Reply;
      try {
        reply = JSON.parse(line) as Reply;
      } catch {
        continue; // not ours (cannot happen with a conforming agent)
      }
      this.dispatch(reply);
    }
  }

  private dispatch(reply: Reply): void {
    if (reply.op === "blocked") {
      // A notice before the request's reply, never its end: the input waits for a blocked loop.
      this.onBlocked(reply.text);
      return;
    }
    if (reply.op === "event") {
      this.waiters.get(reply.id)?.onEvent?.(reply);
      return;
    }
    if (reply.op === "artifact") {
      // Handled as it arrives (written to a file, not kept): the socket is read no faster than that.
      this.waiters.get(reply.id)?.onArtifact?.(reply);
      return;
    }
    if (reply.op === "session") {
      this.onSession(reply.session, reply.text);
      return;
    }
    if (reply.op === "out") {
      const w = reply.id === null ? undefined : this.waiters.get(reply.id);
      if (w) w.onOutput?.(reply.text);
      else this.onAsyncOutput(reply.text);
      return;
    }
    const id = reply.id ?? 0;
    const w = this.waiters.get(id);
    if (!w) {
      if (reply.op === "error") this.onAsyncOutput(`${reply.text}\n`);
      return;
    }
    this.waiters.delete(id);
    w.resolve(reply);
  }

  private closed(): void {
    this.closedError ??= new CliError(EXIT.failure, `${this.path}: the connection closed`);
    for (const w of this.waiters.values()) w.resolve({ op: "bye", id: null, reason: "closed" });
    this.waiters.clear();
    this.onClose();
  }

  /** Sends a request; resolves with its final reply (output is streamed to `onOutput`). */
  request(
    body: RequestBody,
    onOutput?: (text: string) => void,
    onEvent?: (event: EventReply) => void,
    onArtifact?: (frame: ArtifactFrame) => void,
  ): Promise<Reply> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiters.set(id, { resolve, onOutput, onEvent, onArtifact });
      this.wire.write(`${JSON.stringify({ ...body, id })}\n`);
    });
  }

  /** The id the next request will get (to interrupt an evaluation by id). */
  get lastId(): number {
    return this.nextId - 1;
  }

  /** `worker`: evaluate in that worker thread (its thread id) instead of where the session is. */
  async eval(code: string, onOutput?: (text: string) => void, worker?: number): Promise<EvalOutcome> {
    const reply = await this.request({ op: "eval", code, ...(worker === undefined ? {} : { worker }) }, onOutput);
    if (reply.op === "value") return { ok: true, text: reply.text, json: reply.json };
    if (reply.op === "error") return { ok: false, text: reply.text, error: reply.error };
    throw new CliError(EXIT.failure, `${this.path}: the connection closed during the evaluation`);
  }

  async complete(text: string): Promise<{ items: string[]; prefix: string }> {
    const reply = await this.request({ op: "complete", text });
    return reply.op === "completions" ? { items: reply.items, prefix: reply.prefix } : { items: [], prefix: "" };
  }

  async interrupt(): Promise<void> {
    await this.request({ op: "interrupt" });
  }

  async command(
    name: string,
    args: string | Record<string, unknown> = "",
    onOutput?: (text: string) => void,
    onEvent?: (event: EventReply) => void,
    onArtifact?: (frame: ArtifactFrame) => void,
  ): Promise<{ ok: boolean; text: string; json?: unknown; session?: SessionEffect; confirm?: Confirmation }> {
    const reply = await this.request({ op: "command", name, args }, onOutput, onEvent, onArtifact);
    if (reply.op === "result")
      return { ok: true, text: reply.text, json: reply.json, session: reply.session, ...(reply.confirm ? { confirm: reply.confirm } : {}) };
    return { ok: false, text: reply.op === "error" ? reply.text : "the connection closed" };
  }

  /** The agent's operations, as it declares them. */
  async describe(): Promise<CommandInfo[]> {
    const reply = await this.request({ op: "describe" });
    return reply.op === "describe" ? reply.commands : [];
  }

  close(): void {
    this.wire.end();
  }

  destroy(): void {
    this.wire.destroy();
  }
}

export function connectError(socketPath: string, err: NodeJS.ErrnoException, tcp: boolean): CliError {
  if (tcp && err.code === "ECONNREFUSED") return new CliError(EXIT.noManhole, `${socketPath}: no manhole listening there`);
  switch (err.code) {
    case "ENOENT":
      return new CliError(EXIT.noManhole, `${socketPath}: no manhole there (no such socket)`);
    case "ECONNREFUSED":
      return new CliError(EXIT.noManhole, `${socketPath}: no manhole listening (stale socket)`);
    case "EACCES":
    case "EPERM":
      return new CliError(EXIT.permission, `${socketPath}: permission denied (the manhole belongs to another user)`);
    default:
      return new CliError(EXIT.failure, `${socketPath}: ${err.message}`);
  }
}
