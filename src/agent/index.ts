/**
 * startManhole(): opens a door into this process on a private Unix socket.
 *
 *   import { startManhole } from "manhole";
 *   const manhole = await startManhole({ namespace: { app } });
 *   // nc -U <manhole.path>
 *   await manhole.close();
 */
import fs from "node:fs";
import path from "node:path";
import { Worker } from "node:worker_threads";
import type { AuditMessage, FromEvaluator, ToEvaluator, WorkerClose, WorkerStatus } from "../protocol/relay.js";
import { type AuditOption, type Auditor, auditAtExit, auditTarget, FileAuditor, FunctionAuditor, recordUnfinished } from "./audit.js";
import type { AgentInfo } from "./banner.js";
import { installContainment } from "./containment.js";
import { appLabel, buildDescriptor, descriptorPath, findAppPackage, writeDescriptor } from "./descriptor.js";
import { EvalChannel } from "./eval-channel.js";
import { Evaluator } from "./evaluator.js";
import { formatThrown } from "./format.js";
import { startHeartbeat } from "./heartbeat.js";
import { Listener, type ListenerConfig } from "./listener.js";
import { type ManholeOptions, resolveOptions } from "./options.js";
import { checkSocketParent, ensurePrivateDir, runtimeDir } from "./runtime-dir.js";
import { SocketInUseError, unlinkIfOurs } from "./socket-bind.js";
import { INTERRUPT_CELLS, InlineSupervisor } from "./supervisor.js";
import { generateToken, removeTokenFile, tokenPathFor, writeTokenFile } from "./token.js";
import type { WorkerData } from "./worker.js";

export { PROTOCOL_VERSION } from "../protocol/version.js";
export type { AuditEvent, AuditOutcome, AuditPeer } from "./audit.js";
export type { ManholeOptions } from "./options.js";
export { UnsafeDirectoryError } from "./runtime-dir.js";
export { SocketInUseError } from "./socket-bind.js";

export interface ManholeHandle {
  /** The socket to connect to: `nc -U <path>`. */
  readonly path: string;
  /** The discovery descriptor written beside the runtime directory's sockets. */
  readonly descriptorPath: string;
  /** Whether the socket is served from a worker thread. */
  readonly threaded: boolean;
  /** The TCP listener, when the tcp option is given (once listening; port resolved when 0 was asked for). */
  readonly tcp?: { host: string; port: number; tokenPath: string };
  /** Stops listening, says goodbye to open sessions, removes the socket and descriptor. */
  close(): Promise<void>;
}

let descriptorCount = 0;

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** What every session must respect: observe-only, and the audit option (a file path made absolute). */
interface Access {
  observeOnly: boolean;
  audit: AuditOption | undefined;
}

interface Serving {
  close(): Promise<void>;
  /** Synchronous cleanup for process exit. */
  removeSocket(): void;
  tcpPort?: number;
}

async function serveInline(
  config: ListenerConfig,
  timeout: number,
  evaluator: (emit: (m: FromEvaluator) => void) => Evaluator,
  access: Access,
): Promise<Serving> {
  let ev: Evaluator | undefined;
  const { audit } = access;
  const auditor: Auditor | undefined =
    audit === undefined ? undefined : typeof audit === "string" ? new FileAuditor(audit) : new FunctionAuditor(audit);
  const channel = new EvalChannel((m) => ev?.handle(m), { observeOnly: access.observeOnly, audit: auditor });
  ev = evaluator((m) => channel.receive(m));
  const listener = new Listener(config, channel, new InlineSupervisor(channel, timeout));
  let ino: number;
  try {
    ino = await listener.listen(false);
  } catch (err) {
    await auditor?.close();
    throw err;
  }
  return {
    close: () => {
      recordUnfinished(auditor);
      return listener.close().then(() => auditor?.close());
    },
    removeSocket: () => unlinkIfOurs(config.path, ino),
    tcpPort: listener.tcpPort,
  };
}

async function serveThreaded(
  config: ListenerConfig,
  timeout: number,
  evaluator: (emit: (m: FromEvaluator) => void, interruptCells?: Int32Array) => Evaluator,
  access: Access,
): Promise<Serving> {
  const heartbeat = startHeartbeat();
  const interrupt = new SharedArrayBuffer(4 * INTERRUPT_CELLS);
  const data: WorkerData = {
    listener: config,
    timeout,
    heartbeat: heartbeat.buffer,
    interrupt,
    observeOnly: access.observeOnly,
    audit: auditTarget(access.audit),
  };
  // A file is written by the worker itself; a function is called here with the events it relays.
  const relayed = typeof access.audit === "function" ? new FunctionAuditor(access.audit) : undefined;
  const worker = new Worker(path.join(__dirname, "worker.js"), {
    workerData: data,
    execArgv: [], // never inherit --import/--require of the app (they could start a manhole in the worker)
    stdout: false,
    stderr: false,
  });
  const ev = evaluator((m) => worker.postMessage(m), new Int32Array(interrupt));
  let ino = -1;
  let tcpPort: number | undefined;
  let onStatus: ((s: WorkerStatus) => void) | undefined;
  worker.on("message", (m: ToEvaluator | WorkerStatus | AuditMessage) => {
    if (m.type === "ready" || m.type === "failed" || m.type === "closed") onStatus?.(m);
    else if (m.type === "audit") relayed?.record(m.event);
    else ev.handle(m);
  });
  const ready = new Promise<void>((resolve, reject) => {
    onStatus = (s) => {
      if (s.type === "ready") {
        ino = s.ino;
        tcpPort = s.tcpPort;
        resolve();
      } else if (s.type === "failed") {
        const err = s.name === "SocketInUseError" ? new SocketInUseError(s.message) : new Error(s.message);
        reject(err);
      }
    };
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`manhole: worker exited (${code}) before listening`)));
  });
  try {
    await ready;
  } catch (err) {
    heartbeat.stop();
    await worker.terminate();
    throw err;
  }
  worker.unref(); // only now: unref'd earlier, the app could exit before listening (and on("message") re-refs)
  worker.on("error", () => {}); // a worker crash must not become the app's uncaught error
  return {
    close: () =>
      new Promise<void>((resolve) => {
        worker.ref(); // an app awaiting close() must see it finish, not exit halfway
        onStatus = (s) => {
          if (s.type === "closed") void worker.terminate().then(() => resolve());
        };
        worker.once("exit", () => resolve());
        worker.postMessage({ type: "close" } satisfies WorkerClose);
      }).finally(() => {
        heartbeat.stop();
        unlinkIfOurs(config.path, ino);
      }),
    removeSocket: () => unlinkIfOurs(config.path, ino),
    tcpPort,
  };
}

export async function startManhole(options: ManholeOptions = {}): Promise<ManholeHandle> {
  const opts = resolveOptions(options);
  const dir = runtimeDir();
  ensurePrivateDir(dir);
  const socketPath = opts.path ? path.resolve(opts.path) : path.join(dir, `${process.pid}.sock`);
  if (opts.path) checkSocketParent(path.dirname(socketPath));

  const app = findAppPackage();
  const info: AgentInfo = {
    pid: process.pid,
    node: process.version,
    app: appLabel(app),
    startedAt: Date.now() - process.uptime() * 1000,
  };
  const config: ListenerConfig = {
    path: socketPath,
    banner: opts.banner,
    prompt: opts.prompt,
    continuationPrompt: opts.continuationPrompt,
    maxLineBytes: opts.maxLineBytes,
    maxConnections: opts.maxConnections,
    info,
    threaded: opts.threaded,
    version: packageVersion(),
  };
  const tokenPath = tokenPathFor(socketPath);
  if (opts.tcp) {
    config.tcp = {
      host: opts.tcp.host,
      port: opts.tcp.port,
      token: opts.tcp.token ?? generateToken(),
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
  }
  let tcpInfo: { host: string; port: number; tokenPath: string } | undefined;
  let evaluator: Evaluator | undefined;
  const makeEvaluator = (emit: (m: FromEvaluator) => void, interruptCells?: Int32Array) =>
    (evaluator = new Evaluator({
      timeout: opts.timeout,
      interruptCells,
      namespace: opts.namespace,
      shared: opts.shared,
      maxOutputBytes: opts.maxOutputBytes,
      syncTimeout: opts.threaded ? 0 : opts.timeout,
      asyncTimeout: opts.threaded ? 0 : opts.timeout,
      emit,
    }));
  const descFile = descriptorPath(dir, socketPath, ++descriptorCount);
  const access: Access = {
    observeOnly: opts.observeOnly,
    audit: typeof opts.audit === "string" ? path.resolve(opts.audit) : opts.audit,
  };

  /** Listens, writes the descriptor; resolves to the function that undoes it all. */
  const open = async (): Promise<() => Promise<void>> => {
    const containment = installContainment(formatThrown);
    let serving: Serving;
    try {
      serving = opts.threaded
        ? await serveThreaded(config, opts.timeout, makeEvaluator, access)
        : await serveInline(config, opts.timeout, makeEvaluator, access);
    } catch (err) {
      containment.close();
      throw err;
    }
    if (config.tcp && serving.tcpPort !== undefined) {
      try {
        writeTokenFile(tokenPath, config.tcp.token);
      } catch (err) {
        await serving.close();
        containment.close();
        throw err;
      }
      tcpInfo = { host: config.tcp.host, port: serving.tcpPort, tokenPath };
    }
    writeDescriptor(
      descFile,
      buildDescriptor(
        socketPath,
        app,
        opts.threaded,
        tcpInfo ? { host: tcpInfo.host, port: tcpInfo.port, ...(opts.tls ? { tls: true as const } : {}) } : undefined,
      ),
    );
    const removeFiles = () => {
      serving.removeSocket();
      if (tcpInfo) removeTokenFile(tokenPath);
      try {
        fs.unlinkSync(descFile);
      } catch {
        // already gone
      }
    };
    const onExit = () => {
      // An evaluation under way at exit (say, the one that called process.exit()) is audited now.
      if (access.audit !== undefined && evaluator) auditAtExit(access.audit, evaluator.inFlight());
      removeFiles();
    };
    process.once("exit", onExit);
    return () =>
      serving.close().finally(() => {
        process.off("exit", onExit);
        removeFiles();
        containment.close();
      });
  };

  let opened: Promise<(() => Promise<void>) | undefined>;
  const signal = opts.activateOn;
  let onSignal: (() => void) | undefined;
  if (signal === undefined) {
    opened = Promise.resolve(await open());
  } else {
    // Nothing listens until the signal: a once-listener (signal listeners keep no process alive).
    let activate: (v: (() => Promise<void>) | undefined) => void = () => {};
    opened = new Promise((resolve) => {
      activate = resolve;
    });
    onSignal = () => {
      onSignal = undefined;
      open().then(activate, (err: unknown) => {
        process.emitWarning(`manhole: could not listen after ${signal}: ${err instanceof Error ? err.message : String(err)}`);
        activate(undefined);
      });
    };
    process.once(signal, onSignal);
  }

  let closing: Promise<void> | undefined;
  return {
    path: socketPath,
    descriptorPath: descFile,
    threaded: opts.threaded,
    get tcp() {
      return tcpInfo;
    },
    close() {
      if (closing) return closing;
      if (signal !== undefined && onSignal) {
        process.off(signal, onSignal); // never activated: nothing else to undo
        onSignal = undefined;
        closing = Promise.resolve();
        return closing;
      }
      closing = opened.then((undo) => undo?.());
      return closing;
    },
  };
}
