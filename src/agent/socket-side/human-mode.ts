/**
 * Human mode, as `nc -U` sees it: prompt, one input at a time (later lines wait their turn),
 * continuation prompts for incomplete input, dot-commands, Ctrl-C, and an orderly end on EOF
 * that still delivers the last answer. Output that arrives between inputs is followed by a
 * fresh prompt (the continuation prompt while an input is half-typed), as in Node's REPL; a
 * burst of such output gets one prompt after it.
 */

import { REFUSED_TEXT } from "../../protocol/outcome.js";
import { needsMoreInput } from "../../shared/input-complete.js";
import type { Actions } from "./actions.js";
import type { LineEvent } from "./line-reader.js";

/** A line event, or the end of the client's input (which runs any unfinished input). */
type Input = LineEvent | { kind: "eof" };

const COMMAND = /^\s*\.([A-Za-z][\w-]*)(?:\s+(.*))?$/;

/**
 * Output between inputs gets its fresh prompt when the main thread says that burst is over
 * (output-settled); when that word cannot come soon (the loop is blocked right after the output,
 * or the output came from a worker thread), after this long without more output.
 */
const REPROMPT_FALLBACK_MS = 250;

export interface HumanLink {
  prompt: string;
  continuationPrompt: string;
  write(text: string): void;
  leave(): void;
}

export class HumanMode {
  private readonly queue: Input[] = [];
  private input: string[] = [];
  private busy = false;
  /** A dot-command, or a Ctrl-C that found nothing running, is under way: it ends by itself; a Ctrl-C meanwhile is dropped. */
  private uninterruptible = false;
  /** The last thing written was a prompt, and nothing is under way: async output must re-prompt. */
  private atPrompt = false;
  private stopped = false;
  private inputEnded = false;
  /** The fresh prompt due after output that arrived between inputs. */
  private reprompt: NodeJS.Timeout | undefined;

  constructor(
    private readonly actions: Actions,
    private readonly link: HumanLink,
  ) {}

  clearInput(): void {
    this.input = [];
  }

  private write(text: string): void {
    this.cancelReprompt();
    this.atPrompt = false;
    this.link.write(text);
  }

  private cancelReprompt(): void {
    if (this.reprompt === undefined) return;
    clearTimeout(this.reprompt);
    this.reprompt = undefined;
  }

  /** Writes `text` and the prompt that fits: the session waits for input again. */
  private reply(text: string): void {
    this.write(text + this.prompt());
    this.atPrompt = true;
  }

  private prompt(): string {
    if (this.input.length) return this.link.continuationPrompt;
    const worker = this.actions.worker;
    const prompt = worker === undefined ? this.link.prompt : `[worker ${worker}] ${this.link.prompt}`;
    return this.actions.paused ? `(paused) ${prompt}` : prompt;
  }

  /**
   * Output of manhole code. Between inputs (the session sits at its prompt) the prompt follows
   * it, once the burst is over: a timer's console.log, or an `Uncaught ...` reported later.
   */
  output(text: string, whole = false): void {
    if (!(this.atPrompt && this.idle())) {
      this.write(text);
      return;
    }
    // Still at the prompt, as far as the client can tell, until the fresh one is written.
    this.link.write(text.endsWith("\n") ? text : `${text}\n`);
    // The agent's own notices (`whole`) are complete in themselves: their prompt follows at once.
    if (whole) this.repromptNow();
    else if (this.reprompt !== undefined) this.reprompt.refresh();
    else {
      this.reprompt = setTimeout(() => this.repromptNow(), REPROMPT_FALLBACK_MS);
      this.reprompt.unref();
    }
  }

  /** The main thread's burst of output for this session is over: its fresh prompt, if one is due. */
  outputSettled(): void {
    if (this.reprompt !== undefined) this.repromptNow();
  }

  private repromptNow(): void {
    this.cancelReprompt();
    if (this.atPrompt && this.idle()) this.link.write(this.prompt());
  }

  /** Nothing under way and nothing queued: the session waits for its client. */
  private idle(): boolean {
    return !this.busy && !this.stopped && this.queue.length === 0;
  }

  /** The banner and first prompt. */
  greet(banner: string): void {
    this.reply(banner);
  }

  push(ev: LineEvent): void {
    if (ev.kind === "interrupt") {
      this.interrupt();
      return;
    }
    if (ev.kind === "line" && this.busy) {
      // `.stack` and the like answer at once, not after this session's own stuck input.
      const command = COMMAND.exec(ev.text);
      if (command && this.input.length === 0 && this.queue.length === 0 && this.actions.isImmediate(command[1])) {
        void this.runImmediate(command[1], (command[2] ?? "").trim());
        return;
      }
    }
    this.queue.push(ev);
  }

  /** The client's input ended: what is queued still runs, then the session ends. */
  end(events: LineEvent[]): void {
    this.inputEnded = true;
    this.queue.push(...events, { kind: "eof" });
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.cancelReprompt();
  }

  /**
   * Ctrl-C stops the evaluation or operation that runs when it is read, with the lines before
   * it in the same read taken first: an input it follows has been sent, and is stopped as soon
   * as it starts. Lines queued behind it stay queued. With nothing running, it waits its turn
   * behind those lines, then drops a half-typed input.
   */
  private interrupt(): void {
    this.pump();
    if (this.actions.evaluating || this.actions.operating) {
      void this.actions.interrupt();
      return;
    }
    if (this.uninterruptible) return;
    this.queue.push({ kind: "interrupt" });
  }

  pump(): void {
    if (this.busy || this.stopped) return;
    const ev = this.queue.shift();
    if (!ev) {
      if (this.inputEnded) this.link.leave();
      return;
    }
    this.busy = true;
    this.cancelReprompt(); // the answer to this input brings its own prompt
    this.handle(ev)
      .catch((err: unknown) => this.reply(`manhole internal error: ${String(err)}\n`))
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }

  private async handle(ev: Input): Promise<void> {
    if (ev.kind === "error") {
      this.reply(`Error: ${ev.message}\n`);
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
    const command = COMMAND.exec(line);
    if (command && (this.input.length === 0 || this.actions.isMidInput(command[1]))) {
      await this.command(command[1], (command[2] ?? "").trim());
      return;
    }
    this.input.push(line);
    const code = this.input.join("\n");
    if (needsMoreInput(code)) {
      this.reply("");
      return;
    }
    await this.evaluate(code);
  }

  /** Ctrl-C with nothing running: drops a half-typed input, or stops manhole code that holds the event loop. */
  private async interruptIdle(): Promise<void> {
    const hadInput = this.input.length > 0;
    this.input = [];
    this.uninterruptible = true;
    try {
      const { note } = await this.actions.interrupt();
      this.reply(note ? `${note}\n` : hadInput ? "(input cleared)\n" : "\n");
    } finally {
      this.uninterruptible = false;
    }
  }

  private async evaluate(code: string): Promise<void> {
    this.input = [];
    if (code.trim() === "") {
      this.reply("");
      return;
    }
    // Told at once when the input waits for a blocked event loop; its answer comes later.
    const outcome = await this.actions.evaluate(code, false, undefined, (notice) => this.write(`${notice.text}\n`));
    this.reply(`${outcome.kind === "refused" ? REFUSED_TEXT : outcome.text}\n`);
  }

  private async command(name: string, args: string): Promise<void> {
    this.uninterruptible = true;
    let outcome: Awaited<ReturnType<Actions["operate"]>>;
    try {
      outcome = await this.actions.operate(name, args, (text) => this.write(text));
    } finally {
      this.uninterruptible = false;
    }
    if (outcome.leave) {
      this.link.leave();
      return;
    }
    const text = outcome.kind === "refused" ? REFUSED_TEXT : outcome.text;
    this.reply(text ? `${text.replace(/\n?$/, "\n")}` : "");
  }

  /** A read-only operation answered while this session's input runs; the prompt comes with that input's answer. */
  private async runImmediate(name: string, args: string): Promise<void> {
    const outcome = await this.actions.operate(name, args, (text) => this.link.write(text));
    if (outcome.text) this.link.write(outcome.text.replace(/\n?$/, "\n"));
  }
}
