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
import type { FromEvaluator } from "../protocol/relay.js";
import { appLabel } from "../shared/app-label.js";
import { buildDescriptor, claimDescriptorPath, findAppPackage, releaseDescriptorPath, writeDescriptor } from "../shared/descriptor.js";
import { checkSocketParent, ensurePrivateDir, runtimeDir } from "../shared/runtime-dir.js";
import { removeTokenFile, tokenPathFor, writeTokenFile } from "../shared/token-file.js";
import { auditAtExit } from "./audit.js";
import { serveThreaded } from "./boundary/main-end.js";
import { installContainment } from "./main-thread/containment.js";
import { Evaluator } from "./main-thread/evaluator.js";
import { formatThrown } from "./main-thread/format.js";
import { type ManholeOptions, resolveOptions } from "./options.js";
import { serveInline } from "./serve-inline.js";
import type { Access, Serving } from "./serving.js";
import type { AgentInfo } from "./socket-side/banner.js";
import type { ListenerConfig } from "./socket-side/listener.js";
import { generateToken } from "./socket-side/token.js";

export { PROTOCOL_VERSION } from "../protocol/version.js";
export { UnsafeDirectoryError } from "../shared/runtime-dir.js";
export type { AuditEvent, AuditOutcome, AuditPeer } from "./audit.js";
export type { ManholeOptions } from "./options.js";
export { SocketInUseError } from "./socket-side/socket-bind.js";

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

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
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
    app: appLabel(app, process.argv),
    startedAt: Date.now() - process.uptime() * 1000,
  };
  const config: ListenerConfig = {
    path: socketPath,
    banner: opts.banner,
    prompt: opts.prompt,
    continuationPrompt: opts.continuationPrompt,
    maxLineBytes: opts.maxLineBytes,
    maxConnections: opts.maxConnections,
    idleTimeout: opts.idleTimeout,
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
  const descFile = claimDescriptorPath(dir);
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
        releaseDescriptorPath(descFile);
        closing = Promise.resolve();
        return closing;
      }
      closing = opened.then((undo) => undo?.()).finally(() => releaseDescriptorPath(descFile));
      return closing;
    },
  };
}
