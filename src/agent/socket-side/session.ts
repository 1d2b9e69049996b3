/**
 * One human-mode connection, as `nc -U` sees it: banner, prompt, one input at a time
 * (later lines wait their turn), continuation prompts for incomplete input, dot-commands,
 * and an orderly end on EOF that still delivers the last answer.
 */
import type net from "node:net";
import { needsMoreInput } from "../../shared/input-complete.js";
import { type AuditPeer, evalOutcome, SessionAudit } from "../audit.js";
import { COMMANDS, type CommandContext } from "../operations/registry.js";
import type { EvalChannel } from "./eval-channel.js";
import { type LineEvent, LineReader } from "./line-reader.js";
import { allowedWhenObserving, OBSERVE_ONLY_BANNER, REFUSED_TEXT } from "./observe-only.js";
import { type HelloInfo, isHello, StructuredMode } from "./structured-session.js";
import type { Supervisor } from "./supervisor.js";

/** How long a refused client has to read its error before the connection is destroyed. */
const DRAIN_MS = 2000;

/** A line event, or the end of the client's input (which runs any unfinished input). */
type Input = LineEvent | { kind: "eof" };

export interface SessionConfig {
  prompt: string;
  continuationPrompt: string;
  maxLineBytes: number;
  banner(): string;
  hello(): HelloInfo;
}

export class Session {
  private readonly reader: LineReader;
  private readonly queue: Input[] = [];
  private input: string[] = [];
  private busy = false;
  /** A dot-command, or a Ctrl-C that found nothing running, is under way: it ends by itself; a Ctrl-C meanwhile is dropped. */
  private uninterruptible = false;
  private inputEnded = false;
  private closed = false;
  private running = 0;
  /** Set once the client said hello: the session speaks JSON lines from then on. */
  private structured: StructuredMode | undefined;
  private sawLine = false;
  /** The connecting process, for the audit log; filled in (before start) when the agent can tell. */
  peer: AuditPeer = {};
  private readonly audit: SessionAudit;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly channel: EvalChannel,
    private readonly supervisor: Supervisor,
    private readonly config: SessionConfig,
    private readonly onClose: (session: Session) => void,
  ) {
    this.reader = new LineReader(config.maxLineBytes);
    this.audit = new SessionAudit(channel.policy.audit, id, () => this.peer);
  }

  start(): void {
    const { socket } = this;
    socket.on("error", () => {}); // 'close' follows; a client that vanishes is not our error
    socket.on("close", () => this.teardown());
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("end", () => {
      if (this.closed) return;
      this.inputEnded = true;
      if (this.structured) {
        const mode = this.structured;
        for (const ev of this.reader.end()) if (ev.kind === "line") mode.line(ev.text);
        void mode.idle().then(() => this.leave());
        return;
      }
      this.queue.push(...this.reader.end(), { kind: "eof" });
      this.pump();
    });
    this.channel.open(this.id, {
      output: (text, requestId) => (this.structured ? this.structured.output(text, requestId) : this.write(text)),
    });
    this.audit.opened();
    const banner = this.config.banner();
    this.write(banner + (banner && this.channel.policy.observeOnly ? OBSERVE_ONLY_BANNER : "") + this.config.prompt);
  }

  /** Says `text` (if any) and closes, e.g. when the manhole shuts down. */
  goodbye(text: string): void {
    if (this.closed) return;
    if (this.structured) this.structured.goodbye();
    else this.write(text);
    this.leave();
  }

  private write(text: string): void {
    if (!this.closed && text !== "" && this.socket.writable) this.socket.write(text);
  }

  private onData(data: Buffer): void {
    if (this.closed) return;
    for (const ev of this.reader.push(data)) {
      if (ev.kind === "line" && !this.sawLine && isHello(ev.text)) this.structured = this.startStructured();
      if (ev.kind === "line") this.sawLine = true;
      if (this.structured && ev.kind === "interrupt") continue; // structured clients send {op: "interrupt"}
      if (this.structured && (ev.kind === "line" || ev.kind === "error")) {
        if (ev.kind === "line") this.structured.line(ev.text);
        else this.structured.line("");
        continue;
      }
      if (ev.kind === "interrupt") {
        this.interrupt();
      } else if (ev.kind === "too-long") {
        this.write(`\nmanhole: input line longer than maxLineBytes (${this.config.maxLineBytes} bytes); closing the connection\n`);
        // Stop reading (what the client still sends waits in its own buffers, not in the app's)
        // and end our side; destroy a moment later: closing at once makes the client's writes
        // fail before it has read the error line.
        this.socket.pause();
        this.socket.end();
        setTimeout(() => this.socket.destroy(), DRAIN_MS).unref();
        this.teardown();
        return;
      } else {
        this.queue.push(ev);
      }
    }
    this.pump();
  }

  private startStructured(): StructuredMode {
    return new StructuredMode({
      session: this.id,
      channel: this.channel,
      supervisor: this.supervisor,
      audit: this.audit,
      hello: () => this.config.hello(),
      write: (line) => this.write(line),
      leave: () => this.leave(),
    });
  }

  private leave(): void {
    if (this.closed) return;
    this.socket.end();
    this.teardown();
  }

  /**
   * Ctrl-C stops the evaluation that runs when it is read, with the lines before it in the same
   * read taken first: an input it follows has been sent, and is stopped as soon as it starts.
   * Lines queued behind that evaluation stay queued. With no evaluation, it waits its turn
   * behind those lines, then drops a half-typed input.
   */
  private interrupt(): void {
    this.pump();
    if (this.running) {
      void this.supervisor.interrupt(this.running, this.id);
      return;
    }
    if (this.uninterruptible) return;
    this.queue.push({ kind: "interrupt" });
  }

  /** Ctrl-C with no evaluation running: drops a half-typed input, or stops manhole code that holds the event loop. */
  private async interruptIdle(): Promise<void> {
    const hadInput = this.input.length > 0;
    this.input = [];
    this.uninterruptible = true;
    try {
      const note = await this.supervisor.interrupt(0, this.id);
      this.write(`${note ? `${note}\n` : hadInput ? "(input cleared)\n" : "\n"}${this.config.prompt}`);
    } finally {
      this.uninterruptible = false;
    }
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const ev = this.queue.shift();
    if (!ev) {
      if (this.inputEnded) {
        this.leave();
      }
      return;
    }
    this.busy = true;
    this.handle(ev)
      .catch((err: unknown) => this.write(`manhole internal error: ${String(err)}\n${this.config.prompt}`))
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  private async handle(ev: Input): Promise<void> {
    if (ev.kind === "error") {
      this.write(`Error: ${ev.message}\n${this.prompt()}`);
      return;
    }
    if (ev.kind === "interrupt") {
      await this.interruptIdle();
      return;
    }
    if (ev.kind === "eof") {
      // Input ended inside an unfinished input: run it, so the client gets an answer (or the syntax error).
      if (this.input.length > 0) await this.evaluate(this.input.join("\n"));
      return;
    }
    if (ev.kind !== "line") return;
    const line = ev.text;
    const command = /^\s*\.([A-Za-z][\w-]*)(?:\s+(.*))?$/.exec(line);
    if (command && (this.input.length === 0 || command[1] === "break")) {
      await this.runCommand(command[1], (command[2] ?? "").trim());
      return;
    }
    this.input.push(line);
    const code = this.input.join("\n");
    if (needsMoreInput(code)) {
      this.write(this.config.continuationPrompt);
      return;
    }
    await this.evaluate(code);
  }

  private async evaluate(code: string): Promise<void> {
    this.input = [];
    if (code.trim() === "") {
      this.write(this.config.prompt);
      return;
    }
    const audited = this.audit.begin("eval", code);
    if (this.channel.policy.observeOnly) {
      audited("refused");
      this.write(`${REFUSED_TEXT}\n${this.config.prompt}`);
      return;
    }
    const { id, done } = this.channel.evaluate(this.id, code);
    this.running = id;
    const stopWatching = this.supervisor.watch(id);
    const outcome = await done;
    stopWatching();
    this.running = 0;
    audited(evalOutcome(outcome));
    this.write(`${outcome.text}\n${this.config.prompt}`);
  }

  private prompt(): string {
    return this.input.length ? this.config.continuationPrompt : this.config.prompt;
  }

  private async runCommand(name: string, args: string): Promise<void> {
    const command = COMMANDS.get(name);
    const audited = this.audit.begin("command", args ? `.${name} ${args}` : `.${name}`);
    if (!command) {
      audited("error");
      this.write(`Unknown command: .${name} (type .help for the list)\n${this.prompt()}`);
      return;
    }
    if (this.channel.policy.observeOnly && !allowedWhenObserving(name)) {
      audited("refused");
      this.write(`${REFUSED_TEXT}\n${this.prompt()}`);
      return;
    }
    let left = false;
    const ctx: CommandContext = {
      args,
      supervisor: this.supervisor,
      commands: COMMANDS,
      clearInput: () => {
        this.input = [];
      },
      leave: () => {
        left = true;
      },
    };
    let text: string | undefined;
    this.uninterruptible = true;
    try {
      text = await command.run(ctx);
      audited("ok");
    } catch (err) {
      audited("error");
      text = `.${name} failed: ${err instanceof Error ? err.message : String(err)}`;
    } finally {
      this.uninterruptible = false;
    }
    if (left) {
      this.leave();
      return;
    }
    this.write(`${text ? `${text.replace(/\n?$/, "\n")}` : ""}${this.prompt()}`);
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.structured?.stop();
    this.channel.close(this.id);
    this.audit.closed();
    this.onClose(this);
  }
}
