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
import type { CommandInfo } from "../protocol/structured.js";
import { type ManholeOptions, resolveOptions } from "./options.js";
import type { Access, Serving } from "./serving.js";

export { PROTOCOL_VERSION } from "../protocol/version.js";
export { UnsafeDirectoryError } from "../shared/runtime-dir.js";
export type { AuditEvent, AuditOutcome, AuditPeer } from "./audit.js";
export { SocketInUseError } from "./errors.js";
export type { ManholeOptions } from "./options.js";

/**
 * What importing manhole loads is only this file, the options and the runtime directory's
 * checks: an app that imports it and never starts a manhole pays for nothing else. Starting one
 * loads what listens (in threaded mode only the worker's start and the descriptor); the
 * evaluator, containment, operations and parser load when a session first sends an input.
 */
function load() {
  return {
    ...(require("../shared/descriptor.js") as typeof import("../shared/descriptor.js")),
    ...(require("./main-thread/start-baseline.js") as typeof import("./main-thread/start-baseline.js")),
    ...(require("./start-plan.js") as typeof import("./start-plan.js")),
    ...(require("./main-thread/evaluator-factory.js") as typeof import("./main-thread/evaluator-factory.js")),
  };
}
const loadThreaded = () => require("./boundary/main-end.js") as typeof import("./boundary/main-end.js");
const loadInline = () => require("./serve-inline.js") as typeof import("./serve-inline.js");
/** The TCP listener's token (only with the tcp option). */
function loadToken() {
  return {
    ...(require("../shared/token-file.js") as typeof import("../shared/token-file.js")),
    ...(require("./socket-side/token.js") as typeof import("./socket-side/token.js")),
  };
}

/** The operations' declarations (the CLI's subcommands are made from them); loads the operations. */
export function operationDeclarations(): CommandInfo[] {
  return (require("./operations/registry.js") as typeof import("./operations/registry.js")).declarations();
}

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

export async function startManhole(options: ManholeOptions = {}): Promise<ManholeHandle> {
  const opts = resolveOptions(options);
  const {
    buildDescriptor,
    claimDescriptorPath,
    MainEvaluator,
    processFacts,
    releaseDescriptorPath,
    recordStartBaseline,
    startPlan,
    writeDescriptor,
  } = load();
  const { dir, socketPath, app, config } = startPlan(opts, processFacts());
  const tokenPath = opts.tcp ? loadToken().tokenPathFor(socketPath) : "";
  if (opts.tcp) {
    config.tcp = {
      host: opts.tcp.host,
      port: opts.tcp.port,
      token: opts.tcp.token ?? loadToken().generateToken(),
      ...(opts.tls ? { tls: opts.tls } : {}),
    };
  }
  let tcpInfo: { host: string; port: number; tokenPath: string } | undefined;
  const evaluator = new MainEvaluator(opts);
  const descFile = claimDescriptorPath(dir);
  const access: Access = {
    observeOnly: opts.observeOnly,
    audit: typeof opts.audit === "string" ? path.resolve(opts.audit) : opts.audit,
  };

  /** Listens, writes the descriptor; resolves to the function that undoes it all. */
  const open = async (): Promise<() => Promise<void>> => {
    recordStartBaseline();
    const contained = () => evaluator.uncontain();
    let serving: Serving;
    try {
      serving = opts.threaded
        ? await loadThreaded().serveThreaded({ config, timeout: opts.timeout }, evaluator.make, access)
        : await loadInline().serveInline(config, opts.timeout, evaluator.make, access);
    } catch (err) {
      contained();
      throw err;
    }
    if (config.tcp && serving.tcpPort !== undefined) {
      try {
        loadToken().writeTokenFile(tokenPath, config.tcp.token);
      } catch (err) {
        await serving.close();
        contained();
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
      if (tcpInfo) loadToken().removeTokenFile(tokenPath);
      try {
        fs.unlinkSync(descFile);
      } catch {
        // already gone
      }
    };
    const onExit = () => {
      // An evaluation under way at exit (say, the one that called process.exit()) is audited now.
      if (access.audit !== undefined && evaluator.made)
        (require("./audit.js") as typeof import("./audit.js")).auditAtExit(access.audit, evaluator.inFlight());
      removeFiles();
    };
    process.once("exit", onExit);
    let undone: Promise<void> | undefined;
    return () =>
      (undone ??= serving.close().finally(() => {
        process.off("exit", onExit);
        removeFiles();
        evaluator.close();
      }));
  };

  let opened: Promise<(() => Promise<void>) | undefined> = Promise.resolve(undefined);
  const signal = opts.activateOn;
  let closing: Promise<void> | undefined;
  /** activateOn: nothing listens until the signal. Waiting for it means a listener is installed. */
  let waiting = signal !== undefined;
  /** What must finish before the manhole opens again (oneshot: the previous one's close). */
  let previous: Promise<unknown> = Promise.resolve();
  // One listener for the handle's whole life (signal listeners keep no process alive): a later
  // signal never meets the signal's default action, which could end the app.
  const onSignal = () => {
    if (!waiting || closing) return;
    waiting = false;
    opened = previous.then(open).catch((err: unknown) => {
      process.emitWarning(`manhole: could not listen after ${signal}: ${err instanceof Error ? err.message : String(err)}`);
      waiting = true;
      return undefined;
    });
  };
  // oneshot: the one session is over: close; with activateOn, the next signal opens it again
  // (after this close, if it comes sooner).
  access.oneshotDone = () => {
    previous = opened.then((undo) => undo?.());
    if (signal !== undefined) waiting = true;
  };
  if (signal === undefined) opened = Promise.resolve(await open());
  else process.on(signal, onSignal);

  return {
    path: socketPath,
    descriptorPath: descFile,
    threaded: opts.threaded,
    get tcp() {
      return tcpInfo;
    },
    close() {
      if (closing) return closing;
      if (signal !== undefined) process.off(signal, onSignal);
      closing = Promise.all([previous, opened.then((undo) => undo?.())])
        .then(() => {})
        .finally(() => releaseDescriptorPath(descFile));
      return closing;
    },
  };
}
