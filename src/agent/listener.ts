/**
 * Accepts connections on the socket and gives each one a session, within maxConnections.
 * Runs wherever the sockets live: the worker thread, or the main thread when not threaded.
 */
import net from "node:net";
import { AGENT_NAME } from "../protocol/version.js";
import { type AgentInfo, bannerFor } from "./banner.js";
import type { EvalChannel } from "./eval-channel.js";
import { peerCredentials, refusePeer } from "./peer-credentials.js";
import { Session } from "./session.js";
import { bindPrivately, unlinkIfOurs } from "./socket-bind.js";
import type { Supervisor } from "./supervisor.js";

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
}

export class Listener {
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private nextSession = 1;
  private closed = false;
  private ino = -1;

  constructor(
    private readonly config: ListenerConfig,
    private readonly channel: EvalChannel,
    private readonly supervisor: Supervisor,
  ) {
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    this.server.on("error", () => {}); // accept errors (EMFILE...) must not take the app down
  }

  /** Binds the socket; resolves to its inode. */
  async listen(keepAlive: boolean): Promise<number> {
    this.ino = await bindPrivately(this.server, this.config.path);
    // On the main thread the manhole must never keep the app alive; a worker needs its server ref'd.
    if (!keepAlive) this.server.unref();
    return this.ino;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  private accept(socket: net.Socket): void {
    socket.on("error", () => {});
    const peer = peerCredentials(socket);
    if (refusePeer(socket, peer)) return;
    if (this.closed || this.sessions.size >= this.config.maxConnections) {
      socket.end(`manhole: too many connections (maxConnections is ${this.config.maxConnections}); try again later\n`);
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
      (s) => this.sessions.delete(s),
    );
    if (peer) session.peer = { pid: peer.pid, uid: peer.uid };
    this.sessions.add(session);
    session.start();
  }

  /** Stops accepting, says goodbye to every session, and removes the socket file. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    for (const s of [...this.sessions]) s.goodbye("\nmanhole: closing, goodbye\n");
    unlinkIfOurs(this.config.path, this.ino);
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
