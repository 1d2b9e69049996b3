/** The options of startManhole(), their defaults, and their validation. */
import os from "node:os";
import { isLoopback } from "../shared/loopback.js";
import { type AuditOption, auditOption } from "./audit-option.js";

export interface TcpOption {
  /** TCP port; 0 lets the system choose (see handle.tcp.port). */
  port: number;
  /** A loopback address. Default "127.0.0.1". */
  host?: string;
  /** The token clients must present. Default: 32 random bytes (base64url), written to `<socket without .sock>.token`. */
  token?: string;
}

export interface ManholeOptions {
  /** Socket path. Default: `<runtime dir>/<pid>.sock` (see runtime-dir.ts). */
  path?: string;
  /** Names visible in every session, e.g. `{ app, db }`. */
  namespace?: Record<string, unknown>;
  /** One scope for all sessions (true) or one per session (false, the default). */
  shared?: boolean;
  /** Text shown on connect; `null` for none. Default: pid, Node version, app, uptime and a `.help` hint. */
  banner?: string | null;
  /** Prompt for a new input. Default `>>> `. */
  prompt?: string;
  /** Prompt while an input is incomplete. Default `... `. */
  continuationPrompt?: string;
  /** Milliseconds an evaluation may run before it is interrupted (sync) or given up on (async). Default 5000. */
  timeout?: number;
  /** Longest accepted input line in bytes; longer closes the connection with an error. Default 1 MiB. */
  maxLineBytes?: number;
  /** Most simultaneous sessions; more are refused with one line. Default 32. */
  maxConnections?: number;
  /** Most bytes of output one evaluation may print; the rest is cut with a note. Default 1 MiB. */
  maxOutputBytes?: number;
  /**
   * Milliseconds a session may sit idle (no input from its client, nothing of it running)
   * before it is closed, with a warning a minute before (half the limit when that is under two
   * minutes). Default 30 minutes; 0 never closes idle sessions.
   */
  idleTimeout?: number;
  /**
   * Serve the socket from a worker thread (default), so the manhole answers while the event
   * loop is blocked and can stop runaway code. `false` keeps everything on the main thread.
   */
  threaded?: boolean;
  /**
   * Listen only once this signal arrives (e.g. `"SIGUSR2"`): startManhole resolves at once with
   * the handle, and the socket and descriptor appear on the first such signal (`manhole exec --signal`).
   */
  activateOn?: NodeJS.Signals;
  /**
   * Record every session opened or closed and every evaluation and dot-command: a file path
   * (one JSON line per event, appended, created 0600) or a function called with each event
   * on the main thread. See audit.ts for the event's fields.
   */
  audit?: AuditOption;
  /** Refuse evaluation and completion; only the diagnostics (.stack, .help, .exit) work. Default false. */
  observeOnly?: boolean;
  /** Also listen on TCP (loopback only), in addition to the Unix socket; every connection must present the token. */
  tcp?: TcpOption;
  /** Serve the TCP listener over TLS with this key and certificate (PEM strings). Needs `tcp`. */
  tls?: { key: string; cert: string };
  /**
   * Serve exactly one connection, then close and clean up. With `activateOn`, each signal
   * opens the manhole for one connection. Default false.
   */
  oneshot?: boolean;
}

export interface ResolvedOptions {
  path: string | undefined;
  namespace: Record<string, unknown>;
  shared: boolean;
  banner: string | null | undefined;
  prompt: string;
  continuationPrompt: string;
  timeout: number;
  maxLineBytes: number;
  maxConnections: number;
  maxOutputBytes: number;
  idleTimeout: number;
  threaded: boolean;
  activateOn: NodeJS.Signals | undefined;
  audit: AuditOption | undefined;
  observeOnly: boolean;
  tcp: { port: number; host: string; token: string | undefined } | undefined;
  tls: { key: string; cert: string } | undefined;
  oneshot: boolean;
}

export const DEFAULTS = {
  prompt: ">>> ",
  continuationPrompt: "... ",
  timeout: 5000,
  maxLineBytes: 1024 * 1024,
  maxConnections: 32,
  maxOutputBytes: 1024 * 1024,
  idleTimeout: 30 * 60 * 1000,
} as const;

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`manhole: option "${name}" must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`manhole: option "${name}" must be a non-negative integer (0 disables it), got ${String(value)}`);
  }
  return value;
}

function optionalString(name: string, value: unknown, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string") throw new TypeError(`manhole: option "${name}" must be a string`);
  return value;
}

function signalName(value: unknown): NodeJS.Signals | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !(value in os.constants.signals) || value === "SIGKILL" || value === "SIGSTOP") {
    throw new TypeError(
      `manhole: option "activateOn" must be the name of a signal a process can catch (e.g. "SIGUSR2"), got ${String(value)}`,
    );
  }
  return value as NodeJS.Signals;
}

function tcpOption(value: unknown): ResolvedOptions["tcp"] {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== "object") throw new TypeError('manhole: option "tcp" must be an object { port, host?, token? }');
  const { port, host = "127.0.0.1", token } = value as { port?: unknown; host?: unknown; token?: unknown };
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`manhole: option "tcp.port" must be an integer from 0 to 65535, got ${String(port)}`);
  }
  if (typeof host !== "string" || !isLoopback(host)) {
    throw new TypeError(`manhole: option "tcp.host" must be a loopback address (127.0.0.1, ::1, localhost), got ${String(host)}`);
  }
  if (token !== undefined && (typeof token !== "string" || token === "" || /[\r\n]/.test(token))) {
    throw new TypeError('manhole: option "tcp.token" must be a non-empty string without line breaks');
  }
  return { port, host, token };
}

function tlsOption(value: unknown, tcp: ResolvedOptions["tcp"]): ResolvedOptions["tls"] {
  if (value === undefined) return undefined;
  const { key, cert } = (value ?? {}) as { key?: unknown; cert?: unknown };
  if (typeof key !== "string" || typeof cert !== "string") {
    throw new TypeError('manhole: option "tls" must be { key, cert } (PEM strings)');
  }
  if (!tcp) throw new TypeError('manhole: option "tls" needs the "tcp" option');
  return { key, cert };
}

export function resolveOptions(options: ManholeOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== "object") throw new TypeError("manhole: options must be an object");
  const { namespace = {}, banner } = options;
  if (namespace === null || typeof namespace !== "object") {
    throw new TypeError('manhole: option "namespace" must be an object');
  }
  if (banner !== undefined && banner !== null && typeof banner !== "string") {
    throw new TypeError('manhole: option "banner" must be a string or null');
  }
  if (options.path !== undefined && (typeof options.path !== "string" || options.path === "")) {
    throw new TypeError('manhole: option "path" must be a non-empty string');
  }
  const tcp = tcpOption(options.tcp);
  return {
    tcp,
    tls: tlsOption(options.tls, tcp),
    path: options.path,
    namespace,
    shared: options.shared === true,
    banner,
    prompt: optionalString("prompt", options.prompt, DEFAULTS.prompt),
    continuationPrompt: optionalString("continuationPrompt", options.continuationPrompt, DEFAULTS.continuationPrompt),
    timeout: positiveInt("timeout", options.timeout, DEFAULTS.timeout),
    maxLineBytes: positiveInt("maxLineBytes", options.maxLineBytes, DEFAULTS.maxLineBytes),
    maxConnections: positiveInt("maxConnections", options.maxConnections, DEFAULTS.maxConnections),
    maxOutputBytes: positiveInt("maxOutputBytes", options.maxOutputBytes, DEFAULTS.maxOutputBytes),
    idleTimeout: nonNegativeInt("idleTimeout", options.idleTimeout, DEFAULTS.idleTimeout),
    threaded: options.threaded !== false,
    activateOn: signalName(options.activateOn),
    audit: auditOption(options.audit),
    observeOnly: options.observeOnly === true,
    oneshot: options.oneshot === true,
  };
}
