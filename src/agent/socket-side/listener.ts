/**
 * Accepts connections on the socket and gives each one a session, within maxConnections.
 * Runs wherever the sockets live: the worker thread, or the main thread when not threaded.
 * A connection refused before it becomes a session (another uid, a TCP client without the
 * right token, maxConnections) is audited (`connection-refused`) and said on stderr.
 */
import fs from "node:fs";
import net from "node:net";
import type { AuditPeer } from "../../protocol/audit-event.js";
import { AGENT_NAME } from "../../protocol/version.js";
import { formatDuration } from "../../shared/duration.js";
import { type AgentInfo, bannerFor } from "./banner.js";
import { endThenDestroy } from "./end-socket.js";
import type { EvalChannel } from "./eval-channel.js";
import { peerCredentials, refusePeer } from "./peer-credentials.js";
import type { Session } from "./session.js";
import { bindPrivately, unlinkIfOurs } from "./socket-bind.js";
import type { Supervisor } from "./supervisor.js";
import type { TcpConfig, TcpListener } from "./tcp-listener.js";

/**
 * The sessions' machinery (protocols, actions, the operations' declarations: most of the
 * socket side) loads at the first connection or at warm(), not when listening starts: a
 * manhole started with the app then competes less with the app's own start.
 */
const sessions = () => require("./session.js") as typeof import("./session.js");

export interface ListenerConfig {
  path: string;
  banner: string | null | undefined;
  prompt: string;
  continuationPrompt: string;
  maxLineBytes: number;
  /** An evaluation's output at most: the unread-output limit of a session is twice it, 16 MiB at least. */
  maxOutputBytes: number;
  maxConnections: number;
  /** ms a session may sit idle before it is closed; 0: never. */
  idleTimeout: number;
  info: AgentInfo;
  threaded: boolean;
  /** This package's version, for the structured hello. */
  version: string;
  /** Also listen on TCP (token required); see tcp-listener.ts. */
  tcp?: TcpConfig;
  /** Accept one connection; stop listening at once; `onOneshotDone` when it ends. */
  oneshot?: boolean;
}

/** At most this many refusals a minute are printed on stderr (all are audited). */
const REFUSALS_PRINTED_PER_MINUTE = 20;

/** One line on the app's stderr, never through console (in the worker it is relayed through the main thread, which may be blocked). */
function stderrLine(text: string): void {
  try {
    fs.writeSync(2, `${text}\n`);
  } catch {
    // stderr is gone
  }
}

export class Listener {
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private nextSession = 1;
  private closed = false;
  private ino = -1;
  private tcp: TcpListener | undefined;
  /** The TCP port listened on, when the tcp option is given. */
  tcpPort: number | undefined;
  private printed = { since: 0, count: 0 };

  constructor(
    private readonly config: ListenerConfig,
    private readonly channel: EvalChannel,
    /** Made when first needed (a connection, or warm()). */
    private readonly supervisorOf: () => Supervisor,
    /** oneshot: the one session has ended (the owner closes the manhole). */
    private readonly onOneshotDone: () => void = () => {},
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on("error", () => {}); // accept errors (EMFILE...) must not take the app down
  }

  /** Binds the socket; resolves to its inode. */
  async listen(keepAlive: boolean): Promise<number> {
    if (this.config.tcp) {
      const { TcpListener } = require("./tcp-listener.js") as typeof import("./tcp-listener.js");
      this.tcp = new TcpListener(
        this.config.tcp,
        (socket, address) => this.accept(socket, address),
        (address, reason) => this.refused({ address }, `manhole: refused a TCP connection from ${address}: ${reason}`, reason),
      );
      this.tcpPort = await this.tcp.listen(keepAlive);
    }
    try {
      this.ino = await bindPrivately(this.server, this.config.path);
    } catch (err) {
      await this.tcp?.close();
      throw err;
    }
    // On the main thread the manhole must never keep the app alive; a worker needs its server ref'd.
    if (!keepAlive) this.server.unref();
    return this.ino;
  }

  /** Loads what a session needs ahead of the first connection (once the app's start is over). */
  warm(): void {
    sessions();
    this.supervisorOf();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** `address`: a TCP peer that already presented the token (no peer credentials there). */
  private accept(socket: net.Socket, address?: string): void {
    socket.on("error", () => {});
    const peer = address === undefined ? peerCredentials(socket) : undefined;
    const who: AuditPeer = peer ? { pid: peer.pid, uid: peer.uid } : address !== undefined ? { address } : {};
    const notOwner = refusePeer(socket, peer);
    if (notOwner !== undefined && peer) {
      this.refused(who, `manhole: refused a connection from uid ${peer.uid} (pid ${peer.pid})`, notOwner);
      return;
    }
    if (this.closed || this.sessions.size >= this.config.maxConnections) {
      const reason = `maxConnections (${this.config.maxConnections}) sessions open`;
      endThenDestroy(socket, `manhole: too many connections: ${this.openSessionsText()}; try again later\n`);
      if (!this.closed)
        this.refused(who, `manhole: refused a connection${address === undefined ? "" : ` from ${address}`}: ${reason}`, reason);
      return;
    }
    const { config } = this;
    const supervisor = this.supervisorOf();
    const unattend = supervisor.attend?.();
    const { MIN_UNREAD_BYTES, Session } = sessions();
    const session = new Session(
      this.nextSession++,
      socket,
      this.channel,
      supervisor,
      {
        prompt: config.prompt,
        continuationPrompt: config.continuationPrompt,
        maxLineBytes: config.maxLineBytes,
        maxUnreadBytes: Math.max(MIN_UNREAD_BYTES, 2 * config.maxOutputBytes),
        idleTimeout: config.idleTimeout,
        threaded: config.threaded,
        banner: () => bannerFor(config.banner, config.info, supervisor.loopState(), supervisor.pausedBy?.()),
        hello: () => ({
          agent: AGENT_NAME,
          version: config.version,
          pid: config.info.pid,
          node: config.info.node,
          app: config.info.app,
          uptimeMs: Math.round(Date.now() - config.info.startedAt),
          threaded: config.threaded,
          ...(supervisor.loopState() ? { loop: supervisor.loopState() } : {}),
        }),
      },
      (s) => {
        this.sessions.delete(s);
        unattend?.();
        if (config.oneshot) this.onOneshotDone();
      },
    );
    session.peer = who;
    this.sessions.add(session);
    if (config.oneshot) this.stopAccepting();
    session.start();
  }

  /** oneshot: nobody else gets in (the socket file goes at once); the one session goes on. */
  private stopAccepting(): void {
    this.closed = true;
    unlinkIfOurs(this.config.path, this.ino);
    this.server.close();
    void this.tcp?.close();
  }

  /** `3 sessions open (maxConnections is 3), the oldest since 2025-01-01T12:00:00.000Z (2h03m ago), ...` */
  private openSessionsText(): string {
    const { maxConnections, idleTimeout } = this.config;
    const n = this.sessions.size;
    let text = `${n} session${n === 1 ? "" : "s"} open (maxConnections is ${maxConnections})`;
    const opened = [...this.sessions].map((s) => s.openedAt).sort((a, b) => a - b);
    if (opened.length > 0) {
      const now = Date.now();
      const since = (t: number) => `${new Date(t).toISOString()} (${formatDuration(now - t, { compact: true })} ago)`;
      text += `, the oldest since ${since(opened[0])}`;
      if (opened.length > 1) text += `, the newest since ${since(opened[opened.length - 1])}`;
    }
    if (idleTimeout > 0) text += `; idle sessions close after ${formatDuration(idleTimeout, { compact: true })}`;
    return text;
  }

  /** A connection refused before it became a session: audited, and one line on stderr (at most 20 a minute). */
  private refused(peer: AuditPeer, line: string, reason: string): void {
    this.channel.policy.audit?.record({ time: new Date().toISOString(), event: "connection-refused", session: 0, peer, reason });
    const now = Date.now();
    if (now - this.printed.since >= 60_000) this.printed = { since: now, count: 0 };
    this.printed.count++;
    if (this.printed.count <= REFUSALS_PRINTED_PER_MINUTE) stderrLine(line);
    else if (this.printed.count === REFUSALS_PRINTED_PER_MINUTE + 1) {
      stderrLine(`manhole: more than ${REFUSALS_PRINTED_PER_MINUTE} connections refused this minute; the rest are not printed`);
    }
  }

  /** Stops accepting, says goodbye to every session, and removes the socket file. */
  close(): Promise<void> {
    if (this.closed && !this.config.oneshot) return Promise.resolve();
    this.closed = true;
    for (const s of [...this.sessions]) s.goodbye("\nmanhole: closing, goodbye\n");
    unlinkIfOurs(this.config.path, this.ino);
    const tcp = this.tcp?.close();
    return new Promise<void>((resolve) => this.server.close(() => resolve())).then(() => tcp);
  }
}
