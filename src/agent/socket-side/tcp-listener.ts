/**
 * The opt-in TCP (or TLS) listener: loopback only, and every connection must present the token
 * before it becomes a session. Human clients are asked `token: ` and answer with one line; a
 * structured client may instead put `"token"` in its hello (its first line). A wrong token is
 * answered after a delay; repeated failures from one address refuse that address for a while.
 * Every refusal is reported (`onRefused`): the listener audits it and says so on stderr.
 */

import net from "node:net";
import tls from "node:tls";
import { isLoopback } from "../../shared/loopback.js";
import { endThenDestroy } from "./end-socket.js";
import { isHello } from "./structured-mode.js";
import { FailureLimiter, tokenMatches } from "./token.js";

/** Cloneable (it crosses into the worker thread). */
export interface TcpConfig {
  host: string;
  port: number;
  token: string;
  tls?: { key: string; cert: string };
}

/** How long a wrong token waits before its answer. */
const WRONG_TOKEN_DELAY_MS = 500;
/** How long a client has to present its token. */
const TOKEN_TIMEOUT_MS = 30_000;
/** Longest first line accepted before the token is checked (a hello with a token fits easily). */
const MAX_TOKEN_LINE_BYTES = 8192;
/** Most connections waiting to present their token at once. */
const MAX_PENDING = 16;

export const WRONG_TOKEN_TEXT = "manhole: wrong token\n";
export const TOO_MANY_FAILURES_TEXT = "manhole: too many failed attempts; try later\n";

/** Is `host` a loopback address (or "localhost")? */
const refuse = (socket: net.Socket, text: string) => endThenDestroy(socket, text);

export class TcpListener {
  private readonly server: net.Server;
  private readonly limiter = new FailureLimiter();
  /** Connections that have not (yet) been handed to a session: ended on close. */
  private readonly waiting = new Set<net.Socket>();
  private closed = false;

  constructor(
    private readonly config: TcpConfig,
    /** Called with a socket that presented the right token (paused; whatever followed the token is unshifted). */
    private readonly onSocket: (socket: net.Socket, address: string) => void,
    /** Called once for each connection refused before it became a session, with why. */
    private readonly onRefused: (address: string, reason: string) => void = () => {},
  ) {
    const gate = (socket: net.Socket) => this.gate(socket);
    this.server = config.tls
      ? tls.createServer({ key: config.tls.key, cert: config.tls.cert, allowHalfOpen: true }, gate)
      : net.createServer({ allowHalfOpen: true }, gate);
    this.server.on("error", () => {});
    this.server.on("tlsClientError", () => {});
  }

  /** Listens; resolves to the port (the one the system chose when 0 was asked for). */
  listen(keepAlive: boolean): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(this.config.port, this.config.host, () => {
        this.server.off("error", onError);
        if (!keepAlive) this.server.unref();
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  private gate(socket: net.Socket): void {
    socket.on("error", () => {});
    const address = socket.remoteAddress ?? "unknown";
    if (this.closed) {
      socket.destroy();
      return;
    }
    if (!isLoopback(address) || this.waiting.size >= MAX_PENDING) {
      this.onRefused(
        address,
        isLoopback(address) ? `more than ${MAX_PENDING} connections waiting for their token` : "not a loopback address",
      );
      socket.destroy();
      return;
    }
    if (this.limiter.isBlocked(address)) {
      this.onRefused(address, "too many failed attempts (locked out)");
      socket.resume();
      refuse(socket, TOO_MANY_FAILURES_TEXT);
      return;
    }
    this.waiting.add(socket);
    socket.once("close", () => this.waiting.delete(socket));
    let buffer = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      this.onRefused(address, `no token within ${TOKEN_TIMEOUT_MS / 1000} s`);
      socket.destroy();
    }, TOKEN_TIMEOUT_MS);
    timer.unref();
    const onEnd = () => {
      if (done) return;
      finish();
      this.onRefused(address, "no token (the client ended its input)");
      socket.end();
    };
    const onData = (data: Buffer) => {
      if (done) return;
      buffer = Buffer.concat([buffer, data]);
      const nl = buffer.indexOf(10);
      if (nl < 0) {
        if (buffer.length > MAX_TOKEN_LINE_BYTES) this.wrong(socket, address, finish, `a first line over ${MAX_TOKEN_LINE_BYTES} bytes`);
        return;
      }
      const line = buffer.subarray(0, nl).toString("utf8").replace(/\r$/, "");
      const rest = buffer.subarray(nl + 1);
      let given = line;
      let replay = rest;
      if (isHello(line)) {
        // The hello itself goes on to the session, which answers it.
        try {
          const token = (JSON.parse(line) as { token?: unknown }).token;
          given = typeof token === "string" ? token : "";
        } catch {
          given = "";
        }
        replay = buffer;
      }
      if (!tokenMatches(this.config.token, given)) {
        this.wrong(socket, address, finish, given === "" ? "no token" : "wrong token");
        return;
      }
      finish();
      this.waiting.delete(socket);
      socket.pause();
      if (replay.length > 0) socket.unshift(replay);
      this.onSocket(socket, address);
      socket.resume();
    };
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.write("token: ");
  }

  private wrong(socket: net.Socket, address: string, finish: () => void, reason: string): void {
    finish();
    this.limiter.fail(address);
    this.onRefused(address, reason);
    socket.pause();
    const timer = setTimeout(() => {
      socket.resume(); // whatever else it sent is discarded
      refuse(socket, WRONG_TOKEN_TEXT);
    }, WRONG_TOKEN_DELAY_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  }

  close(): Promise<void> {
    this.closed = true;
    for (const socket of this.waiting) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
