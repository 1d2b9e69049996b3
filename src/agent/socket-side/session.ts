/**
 * One connection: its socket, its line reader, its audit trail, and the mode its first line
 * chose — human (human-mode.ts) unless that line is a structured `hello` (structured-mode.ts).
 * Both modes act through one Actions (actions.ts); this file knows nothing of what lines mean.
 */
import type net from "node:net";
import { formatDuration } from "../../shared/duration.js";
import { type AuditPeer, SessionAudit } from "../audit.js";
import { observeSafeList } from "../operations/registry.js";
import { Actions } from "./actions.js";
import { endThenDestroy } from "./end-socket.js";
import type { EvalChannel } from "./eval-channel.js";
import { HumanMode } from "./human-mode.js";
import { LineReader } from "./line-reader.js";
import { observeOnlyBanner } from "./observe-only.js";
import { type HelloInfo, isHello, StructuredMode } from "./structured-mode.js";
import type { Supervisor } from "./supervisor.js";

/** How long a refused client has to read its error before the connection is destroyed. */
const DRAIN_MS = 2000;
/**
 * Output a client has not read yet, at most (SessionConfig.maxUnreadBytes): past it the session
 * is closed, since its output would otherwise grow the app's memory for as long as the client
 * does not read. Twice maxOutputBytes, and at least this: a slow reader of one evaluation's
 * output stays under it; a client that sends input after input and reads none does not.
 */
export const MIN_UNREAD_BYTES = 16 * 1024 * 1024;

/** How long before an idle session closes it is warned: a minute, or half of a shorter idleTimeout. */
export function idleWarningLead(idleTimeout: number): number {
  return Math.min(60_000, Math.floor(idleTimeout / 2));
}

export interface SessionConfig {
  prompt: string;
  continuationPrompt: string;
  maxLineBytes: number;
  /** Unread output past which the session is closed (MIN_UNREAD_BYTES). */
  maxUnreadBytes: number;
  /** ms the session may sit idle before it is closed; 0: never. */
  idleTimeout: number;
  threaded: boolean;
  banner(): string;
  hello(): HelloInfo;
}

export class Session {
  private readonly reader: LineReader;
  private closed = false;
  private readonly actions: Actions;
  private readonly human: HumanMode;
  /** Set once the client said hello: the session speaks JSON lines from then on. */
  private structured: StructuredMode | undefined;
  private sawLine = false;
  /** The connecting process, for the audit log; filled in (before start) when the agent can tell. */
  peer: AuditPeer = {};
  private readonly audit: SessionAudit;
  /** When the session opened (Date.now()), for the maxConnections refusal. */
  readonly openedAt = Date.now();
  /** The last input from the client or end of an evaluation, as performance.now(). */
  private lastActive = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;
  private idleWarned = false;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly channel: EvalChannel,
    supervisor: Supervisor,
    private readonly config: SessionConfig,
    private readonly onClose: (session: Session) => void,
  ) {
    this.reader = new LineReader(config.maxLineBytes);
    this.audit = new SessionAudit(channel.policy.audit, id, () => this.peer);
    this.actions = new Actions({
      session: id,
      channel,
      supervisor,
      audit: this.audit,
      threaded: config.threaded,
      clearInput: () => this.human.clearInput(),
      settled: () => {
        this.lastActive = performance.now();
      },
      workerExited: (threadId, text) => {
        if (this.closed) return;
        if (this.structured) this.structured.workerExited(threadId, text);
        else this.human.output(`\n${text}\n`, true);
      },
      pauseEnded: (text) => (this.structured ? this.structured.output(`${text}\n`, 0) : this.human.output(`${text}\n`, true)),
    });
    this.human = new HumanMode(this.actions, {
      prompt: config.prompt,
      continuationPrompt: config.continuationPrompt,
      write: (text) => this.write(text),
      leave: () => this.leave(),
    });
  }

  start(): void {
    const { socket } = this;
    socket.on("error", () => {}); // 'close' follows; a client that vanishes is not our error
    socket.on("close", () => this.teardown());
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("end", () => {
      if (this.closed) return;
      const rest = this.reader.end();
      if (this.structured) {
        const mode = this.structured;
        for (const ev of rest) if (ev.kind === "line") mode.line(ev.text);
        void mode.idle().then(() => this.leave());
        return;
      }
      this.human.end(rest);
    });
    this.channel.open(this.id, {
      output: (text, requestId) => (this.structured ? this.structured.output(text, requestId) : this.human.output(text)),
      outputSettled: () => {
        if (!this.structured) this.human.outputSettled();
      },
    });
    this.audit.opened();
    this.armIdle(this.config.idleTimeout - idleWarningLead(this.config.idleTimeout));
    const banner = this.config.banner();
    this.human.greet(banner + (banner && this.channel.policy.observeOnly ? observeOnlyBanner(observeSafeList()) : ""));
  }

  /** Says `text` (if any) and closes, e.g. when the manhole shuts down. */
  goodbye(text: string, reason?: string): void {
    if (this.closed) return;
    if (this.structured) this.structured.goodbye(reason);
    else this.write(text);
    this.leave();
  }

  /**
   * The idle limit: one timer, checked when it fires (input only moves `lastActive`). Running
   * an evaluation or an operation is not idle; idleness counts from its end.
   */
  private armIdle(ms: number): void {
    if (this.config.idleTimeout <= 0 || this.closed) return;
    this.idleTimer = setTimeout(() => this.checkIdle(), Math.max(1, ms));
    this.idleTimer.unref();
  }

  private checkIdle(): void {
    this.idleTimer = undefined;
    if (this.closed) return;
    const limit = this.config.idleTimeout;
    const lead = idleWarningLead(limit);
    if (this.actions.evaluating || this.actions.operating) this.lastActive = performance.now();
    const idle = performance.now() - this.lastActive;
    if (idle < limit - lead) {
      this.idleWarned = false;
      this.armIdle(limit - lead - idle);
      return;
    }
    if (idle < limit) {
      if (!this.idleWarned) {
        this.idleWarned = true;
        const text = `manhole: this session has been idle for ${formatDuration(idle)}; it closes in ${formatDuration(limit - idle)} unless it is used (idleTimeout)`;
        if (this.structured) this.structured.output(`${text}\n`, 0);
        else this.human.output(`\n${text}\n`, true);
      }
      this.armIdle(limit - idle);
      return;
    }
    const why = `idle for ${formatDuration(idle)} (idleTimeout is ${formatDuration(limit)})`;
    this.goodbye(`\nmanhole: closing this session: ${why}\n`, `the session was ${why}`);
    // A forgotten client may never end its side: the connection must not outlive the session.
    endThenDestroy(this.socket, undefined, DRAIN_MS);
  }

  private write(text: string): void {
    if (this.closed || text === "" || !this.socket.writable) return;
    if (this.socket.writableLength > this.config.maxUnreadBytes) {
      const mib = Math.round(this.config.maxUnreadBytes / 2 ** 20);
      this.socket.write(`\nmanhole: closing this session: the client has not read ${mib} MiB of output\n`);
      this.leave();
      setTimeout(() => this.socket.destroy(), DRAIN_MS).unref();
      return;
    }
    this.socket.write(text);
  }

  private onData(data: Buffer): void {
    if (this.closed) return;
    this.lastActive = performance.now();
    for (const ev of this.reader.push(data)) {
      if (ev.kind === "line" && !this.sawLine && isHello(ev.text)) this.structured = this.startStructured();
      if (ev.kind === "line") this.sawLine = true;
      if (ev.kind === "too-long") {
        this.write(`\nmanhole: input line longer than maxLineBytes (${this.config.maxLineBytes} bytes); closing the connection\n`);
        // Stop reading (what the client still sends waits in its own buffers, not in the app's)
        // and end our side; destroy a moment later: closing at once makes the client's writes
        // fail before it has read the error line.
        this.socket.pause();
        endThenDestroy(this.socket, undefined, DRAIN_MS);
        this.teardown();
        return;
      }
      if (this.structured) {
        // Structured clients interrupt with {op: "interrupt"}; a bad line is a bad request.
        if (ev.kind === "line") this.structured.line(ev.text);
        else if (ev.kind === "error") this.structured.line("");
        continue;
      }
      this.human.push(ev);
    }
    if (!this.structured) this.human.pump();
  }

  private startStructured(): StructuredMode {
    this.human.stop();
    return new StructuredMode(this.actions, {
      hello: () => this.config.hello(),
      write: (line) => this.write(line),
      writePaced: (line) => this.writePaced(line),
      leave: () => this.leave(),
    });
  }

  /** write(), resolving once the socket has room again: a slow reader slows the writer instead of growing our buffer. */
  private writePaced(text: string): Promise<void> {
    const { socket } = this;
    if (this.closed || !socket.writable) return Promise.resolve();
    if (socket.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
  }

  private leave(): void {
    if (this.closed) return;
    this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.human.stop();
    this.structured?.stop();
    this.actions.abandon();
    this.channel.close(this.id);
    this.audit.closed();
    this.onClose(this);
  }
}
