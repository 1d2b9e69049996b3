/**
 * Accepts connections on the socket and gives each one a session, within maxConnections.
 * Runs wherever the sockets live: the worker thread, or the main thread when not threaded.
 */
import net from "node:net";
import { AGENT_NAME } from "../../protocol/version.js";
import { type AgentInfo, bannerFor } from "./banner.js";
import { endThenDestroy } from "./end-socket.js";
import type { EvalChannel } from "./eval-channel.js";
import { peerCredentials, refusePeer } from "./peer-credentials.js";
import { Session } from "./session.js";
import { bindPrivately, unlinkIfOurs } from "./socket-bind.js";
import type { Supervisor } from "./supervisor.js";
import { type TcpConfig, TcpListener } from "./tcp-listener.js";

export interface ListenerConfig {
  path: string;
  banner: string | null | undefined;
  prompt: string;
  continuationPrompt: string;
  maxLineBytes: number;
  maxConnections: number;
  info: AgentInfo;
  threaded: boolean;
  /** This package's version, for the structured hello. */
  version: string;
  /** Also listen on TCP (token required); see tcp-listener.ts. */
  tcp?: TcpConfig;
  /** Accept one connection; stop listening at once; `onOneshotDone` when it ends. */
  oneshot?: boolean;
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

  constructor(
    private readonly config: ListenerConfig,
    private readonly channel: EvalChannel,
    private readonly supervisor: Supervisor,
    /** oneshot: the one session has ended (the owner closes the manhole). */
    private readonly onOneshotDone: () => void = () => {},
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on("error", () => {}); // accept errors (EMFILE...) must not take the app down
  }

  /** Binds the socket; resolves to its inode. */
  async listen(keepAlive: boolean): Promise<number> {
    if (this.config.tcp) {
      this.tcp = new TcpListener(this.config.tcp, (socket, address) => this.accept(socket, address));
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

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** `address`: a TCP peer that already presented the token (no peer credentials there). */
  private accept(socket: net.Socket, address?: string): void {
    socket.on("error", () => {});
    const peer = address === undefined ? peerCredentials(socket) : undefined;
    if (refusePeer(socket, peer)) return;
    if (this.closed || this.sessions.size >= this.config.maxConnections) {
      endThenDestroy(socket, `manhole: too many connections (maxConnections is ${this.config.maxConnections}); try again later\n`);
      return;
    }
    const { config } = this;
    const session = new Session(
      this.nextSession++,
      socket,
      this.channel,
      this.supervisor,
      {
        prompt: config.prompt,
        continuationPrompt: config.continuationPrompt,
        maxLineBytes: config.maxLineBytes,
        threaded: config.threaded,
        banner: () => bannerFor(config.banner, config.info, this.supervisor.loopState()),
        hello: () => ({
          agent: AGENT_NAME,
          version: config.version,
          pid: config.info.pid,
          node: config.info.node,
          app: config.info.app,
          uptimeMs: Math.round(Date.now() - config.info.startedAt),
          threaded: config.threaded,
          ...(this.supervisor.loopState() ? { loop: this.supervisor.loopState() } : {}),
        }),
      },
      (s) => {
        this.sessions.delete(s);
        if (config.oneshot) this.onOneshotDone();
      },
    );
    if (peer) session.peer = { pid: peer.pid, uid: peer.uid };
    if (address !== undefined) session.peer = { address };
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
