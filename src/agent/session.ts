/**
 * One human-mode connection, as `nc -U` sees it: banner, prompt, one input at a time
 * (later lines wait their turn), continuation prompts for incomplete input, dot-commands,
 * and an orderly end on EOF that still delivers the last answer.
 */
import type net from "node:net";
import { COMMANDS, type CommandContext } from "./commands/index.js";
import type { EvalChannel } from "./eval-channel.js";
import { needsMoreInput } from "./input-complete.js";
import { type LineEvent, LineReader } from "./line-reader.js";
import type { Supervisor } from "./supervisor.js";

/** A line event, or the end of the client's input (which runs any unfinished input). */
type Input = LineEvent | { kind: "eof" };

export interface SessionConfig {
  prompt: string;
  continuationPrompt: string;
  maxLineBytes: number;
  banner(): string;
}

export class Session {
  private readonly reader: LineReader;
  private readonly queue: Input[] = [];
  private input: string[] = [];
  private busy = false;
  private inputEnded = false;
  private closed = false;
  private running = 0;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly channel: EvalChannel,
    private readonly supervisor: Supervisor,
    private readonly config: SessionConfig,
    private readonly onClose: (session: Session) => void,
  ) {
    this.reader = new LineReader(config.maxLineBytes);
  }

  start(): void {
    const { socket } = this;
    socket.on("error", () => {}); // 'close' follows; a client that vanishes is not our error
    socket.on("close", () => this.teardown());
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("end", () => {
      if (this.closed) return;
      this.inputEnded = true;
      this.queue.push(...this.reader.end(), { kind: "eof" });
      this.pump();
    });
    this.channel.open(this.id, { output: (text) => this.write(text) });
    this.write(this.config.banner() + this.config.prompt);
  }

  /** Says `text` (if any) and closes, e.g. when the manhole shuts down. */
  goodbye(text: string): void {
    if (this.closed) return;
    this.write(text);
    this.socket.end();
    this.teardown();
  }

  private write(text: string): void {
    if (!this.closed && text !== "" && this.socket.writable) this.socket.write(text);
  }

  private onData(data: Buffer): void {
    if (this.closed) return;
    for (const ev of this.reader.push(data)) {
      if (ev.kind === "interrupt") {
        void this.interrupt();
      } else if (ev.kind === "too-long") {
        this.write(`\nmanhole: input line longer than maxLineBytes (${this.config.maxLineBytes} bytes); closing the connection\n`);
        this.socket.end();
        this.socket.destroySoon?.();
        this.teardown();
        return;
      } else {
        this.queue.push(ev);
      }
    }
    this.pump();
  }

  private async interrupt(): Promise<void> {
    if (this.running) {
      await this.supervisor.interrupt(this.running);
      return;
    }
    if (this.busy) return; // a command is running; it ends by itself
    const hadInput = this.input.length > 0;
    this.input = [];
    const note = await this.supervisor.interrupt(0);
    this.write(`${note ? `${note}\n` : hadInput ? "(input cleared)\n" : "\n"}${this.config.prompt}`);
  }

  private pump(): void {
    if (this.busy || this.closed) return;
    const ev = this.queue.shift();
    if (!ev) {
      if (this.inputEnded) {
        this.socket.end();
        this.teardown();
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
    const { id, done } = this.channel.evaluate(this.id, code);
    this.running = id;
    const stopWatching = this.supervisor.watch(id);
    const outcome = await done;
    stopWatching();
    this.running = 0;
    this.write(`${outcome.text}\n${this.config.prompt}`);
  }

  private prompt(): string {
    return this.input.length ? this.config.continuationPrompt : this.config.prompt;
  }

  private async runCommand(name: string, args: string): Promise<void> {
    const command = COMMANDS.get(name);
    if (!command) {
      this.write(`Unknown command: .${name} (type .help for the list)\n${this.prompt()}`);
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
    try {
      text = await command.run(ctx);
    } catch (err) {
      text = `.${name} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (left) {
      this.socket.end();
      this.teardown();
      return;
    }
    this.write(`${text ? `${text.replace(/\n?$/, "\n")}` : ""}${this.prompt()}`);
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.channel.close(this.id);
    this.onClose(this);
  }
}
