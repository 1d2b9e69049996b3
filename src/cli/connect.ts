/**
 * `manhole connect <pid|path>` (also `manhole <pid>`): an interactive session over the
 * structured protocol, with line editing, persistent history, completion served by the agent,
 * multi-line input, colours, and Ctrl-C that interrupts the running evaluation. With stdin not
 * a terminal it reads inputs line by line, prints each result, and exits at EOF.
 */
import readline from "node:readline";
import { formatDuration } from "../shared/duration.js";
import { needsMoreInput } from "../shared/input-complete.js";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { ManholeClient } from "./client.js";
import { colorEnabled, type Palette, palette } from "./colors.js";
import { parseTimeout, REMOTE_OPTIONS_HELP, REMOTE_VALUED, resolveEndpoint } from "./endpoint.js";
import { EXIT } from "./errors.js";
import { HISTORY_SIZE, History, historyPath } from "./history.js";
import { TCP_FLAGS, TCP_OPTIONS_HELP, TCP_VALUED } from "./target.js";

export const connectHelp = `Usage: manhole connect [options] <pid|socket>
       manhole connect [options] <host:port>
       manhole connect [options] <ssh://[user@]host[:port]/pid | kube://[ns/]pod[/container]/pid | docker://container/pid>
       manhole <pid>

Opens an interactive session in the process: line editing, history, Tab completion of
the live process's names and properties, and multi-line input (an unfinished input gets
the "... " prompt). Lines starting with "." are commands: .help lists them, .exit leaves,
.break abandons an unfinished input.

Keys: Ctrl-C interrupts a running evaluation, or clears the line; Ctrl-D leaves.

With stdin not a terminal, reads the inputs from stdin, prints each result (errors on
stderr), and exits at EOF: 0, or 1 if the last input threw.

Remote targets: ssh://[user@]host[:port]/<pid>, kube://[namespace/]pod[/container]/<pid>
(namespace/pod with two parts), docker://container/<pid>; a socket path on the far side
starts with a second slash: ssh://db1//run/app/manhole.sock. The CLI runs the transport
(ssh, kubectl exec -i, docker exec -i) with "manhole bridge <pid>" on the far side and
talks through its stdin/stdout: no port is opened anywhere. The far side needs manhole
installed (on PATH, or in the app's node_modules: npm install manhole).

Options:
  --timeout <ms>    give up connecting after <ms> (default 5000); exit 7
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
                    (for apps started with startManhole({ activateOn: SIG }))
${TCP_OPTIONS_HELP}
${REMOTE_OPTIONS_HELP}
  -h, --help        show this help

Environment:
  MANHOLE_TOKEN     the token for host:port targets (when --token is not given)
  MANHOLE_SSH       the ssh command, split into words (default "ssh"), e.g.
                    "ssh -J bastion" or "ssh -i ~/.ssh/ops -o BatchMode=yes"
  MANHOLE_KUBECTL   the kubectl command (default "kubectl"), e.g. "kubectl --context prod"
  MANHOLE_DOCKER    the docker command (default "docker"), e.g. "docker -H ssh://h"
  MANHOLE_REMOTE    the manhole command on the far side (default: "manhole" on PATH,
                    else node_modules/.bin/manhole above the working directory, else
                    "npx --no-install manhole"); over ssh a shell command line
                    ("cd /srv/app && npx --no-install manhole"), in a pod or container
                    the words of a command ("node /app/node_modules/manhole/dist/cli/main.js")
  NO_COLOR          no colours (neither are there when stdout is not a terminal)
  XDG_STATE_HOME    the history is in $XDG_STATE_HOME/manhole/history
                    (default ~/.local/state/manhole/history)

Exit codes: 0 left the session, 1 the last piped input threw, 2 usage, 3 no such process,
4 no manhole there, 5 permission denied (also: ssh authentication failed), 6 protocol
version mismatch, 7 timeout, 8 remote target unreachable (ssh/kubectl/docker failed or
missing, pod or container not found, manhole not installed there).
`;

/** How long Tab waits for the agent (readline ignores keys until the completer answers). */
const COMPLETE_TIMEOUT_MS = 1000;
const COMMAND_LINE = /^\s*\.([A-Za-z][\w-]*)(?:\s+(.*))?$/;

type Completion = [string[], string];

export interface SessionStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream & { isTTY?: boolean };
  error: NodeJS.WritableStream & { isTTY?: boolean };
}

export class InteractiveSession {
  private readonly rl: readline.Interface;
  private readonly out: SessionStreams["output"];
  private readonly err: SessionStreams["error"];
  private readonly c: Palette;
  /** Colours for what goes to `err` (errors of piped inputs). */
  private readonly ce: Palette;
  private prompt: string;
  private readonly continuation: string;
  /** The lines of an unfinished input. */
  private buffer = "";
  private readonly queue: string[] = [];
  private pumping = false;
  private evaluating = false;
  /** The prompt is on screen, waiting for a line. */
  private prompting = false;
  /** Whether the last output written ended a line. */
  private atLineStart = true;
  private eof = false;
  private lastFailed = false;
  private done = false;
  private resolveDone!: (code: number) => void;
  readonly finished = new Promise<number>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly client: ManholeClient,
    private readonly tty: boolean,
    streams: SessionStreams,
    private readonly history?: History,
    /** The agent's dot-commands that count even inside a multi-line input (describe: midInput). */
    private readonly midInput: ReadonlySet<string> = new Set(),
  ) {
    this.out = streams.output;
    this.err = streams.error;
    this.c = palette(colorEnabled(this.out));
    this.ce = palette(colorEnabled(this.err));
    this.prompt = this.promptFor(undefined);
    this.continuation = this.c.dim("... ");
    this.rl = tty
      ? readline.createInterface({
          input: streams.input,
          output: this.out,
          terminal: true,
          completer: (line: string, callback: (err: Error | null, result: Completion) => void) => this.complete(line, callback),
          history: history?.load() ?? [],
          historySize: HISTORY_SIZE,
          removeHistoryDuplicates: true,
        })
      : readline.createInterface({ input: streams.input, terminal: false, crlfDelay: Number.POSITIVE_INFINITY });

    this.rl.on("line", (line) => this.onLine(line));
    this.rl.on("close", () => this.onInputClosed());
    if (tty) this.rl.on("SIGINT", () => this.onInterrupt());
    client.onAsyncOutput = (text) => this.printAsync(text);
    client.onSession = (effect, text) => {
      if (effect.worker !== undefined) this.prompt = this.promptFor(effect.worker ?? undefined);
      this.printAsync(`${text}\n`);
    };
    // The agent's notice that an input waits for a blocked loop: on the terminal, or stderr when piped.
    client.onBlocked = (text) => (this.tty ? this.write(this.c.yellow(`${text}\n`)) : this.err.write(`manhole: ${text}\n`));
    client.onClose = () => this.finish(EXIT.ok, "the process closed the connection");
  }

  /** Prints the banner and the first prompt (in a terminal). */
  start(): void {
    if (!this.tty) return;
    const { pid, app, node, uptimeMs, loop, threaded } = this.client.info;
    this.write(
      `${this.c.dim("manhole:")} pid ${pid}, app ${this.c.bold(app)}, node ${node}, up ${formatDuration(uptimeMs)}` +
        `${threaded ? "" : this.c.dim(" (not threaded)")} ${this.c.dim("— .help for commands, Ctrl-D leaves")}\n`,
    );
    if (loop?.blocked) {
      this.write(this.c.yellow(`WARNING: the event loop is blocked for ${formatDuration(loop.sinceMs)} (try .stack)\n`));
    }
    this.showPrompt();
  }

  private write(text: string): void {
    if (text === "") return;
    // Input typed ahead during an evaluation stays below the output, as the prompt does.
    const typedAhead = this.tty && !this.prompting && !this.done && this.rl.line !== "";
    if (typedAhead) this.clearPromptArea();
    this.out.write(text);
    this.atLineStart = text.endsWith("\n");
    if (typedAhead && this.atLineStart) this.rl.prompt(true);
  }

  /** An error: red in a terminal; on stderr when the inputs are piped. */
  private writeError(text: string): void {
    const body = text.endsWith("\n") ? text.slice(0, -1) : text;
    if (this.tty) this.write(`${this.c.red(body)}\n`);
    else this.err.write(`${this.ce.red(body)}\n`);
  }

  private showPrompt(): void {
    if (!this.tty || this.done) return;
    this.rl.setPrompt(this.buffer === "" ? this.prompt : this.continuation);
    this.prompting = true;
    this.rl.prompt(true); // keeps the cursor in what was typed ahead
  }

  /** Output between evaluations: above the prompt, with the line being typed redrawn below it. */
  private printAsync(text: string): void {
    if (!this.tty || !this.prompting || this.done) {
      this.write(text);
      return;
    }
    this.clearPromptArea();
    this.out.write(text.endsWith("\n") ? text : `${text}\n`);
    this.atLineStart = true;
    this.rl.prompt(true);
  }

  /** Erases the prompt and the line being typed (which may wrap), leaving the cursor where the prompt began. */
  private clearPromptArea(): void {
    const rows = this.rl.getCursorPos().rows;
    if (rows > 0) readline.moveCursor(this.out, 0, -rows);
    readline.cursorTo(this.out, 0);
    readline.clearScreenDown(this.out);
    // readline remembers how many rows up its cursor is, to redraw from there: now none.
    const state = this.rl as unknown as { prevRows?: number };
    if (typeof state.prevRows === "number") state.prevRows = 0;
  }

  private complete(line: string, callback: (err: Error | null, result: Completion) => void): void {
    // Tab on an empty (continuation) line indents.
    if (line.trim() === "") {
      callback(null, [line === "" && this.buffer === "" ? [] : ["  "], ""]);
      return;
    }
    let answered = false;
    const answer = (result: Completion) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      callback(null, result);
    };
    const timer = setTimeout(() => answer([[], ""]), COMPLETE_TIMEOUT_MS);
    this.client.complete(line).then(
      ({ items, prefix }) => answer([items, prefix]),
      () => answer([[], ""]),
    );
  }

  private onInterrupt(): void {
    if (this.done) return;
    if (this.evaluating) {
      this.client.interrupt().catch(() => {});
      return;
    }
    if (this.pumping) return; // a command is running: nothing to interrupt
    const empty = this.rl.line === "" && this.buffer === "";
    this.clearLine();
    this.buffer = "";
    if (empty) this.write(this.c.dim("(To exit, press Ctrl-D or type .exit)\n"));
    this.showPrompt();
  }

  /** Leaves what was typed on screen, forgets it, and moves to a new line (like Node's REPL). */
  private clearLine(): void {
    const rl = this.rl as unknown as { clearLine?: () => void };
    if (typeof rl.clearLine === "function") {
      rl.clearLine();
    } else {
      this.rl.write(null, { ctrl: true, name: "e" });
      this.out.write("\n");
      this.rl.write(null, { ctrl: true, name: "u" });
    }
    this.atLineStart = true;
  }

  private onLine(line: string): void {
    if (this.done) return;
    this.prompting = false;
    this.atLineStart = true;
    if (this.tty) {
      this.rl.setPrompt(""); // what is typed during an evaluation shows without a prompt
      this.history?.add(line);
    }
    this.queue.push(line);
    void this.pump();
  }

  private onInputClosed(): void {
    if (this.done) return;
    this.eof = true;
    if (this.tty) {
      this.out.write("\n"); // Ctrl-D: leave the shell's prompt on a line of its own
      this.finish(EXIT.ok);
      return;
    }
    void this.pump();
  }

  /** Handles queued lines one at a time, then shows the prompt again (or ends at EOF). */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let line = this.queue.shift(); line !== undefined && !this.done; line = this.queue.shift()) {
        await this.handle(line);
      }
      if (!this.done && this.eof) {
        if (this.buffer.trim() !== "") {
          const code = this.buffer;
          this.buffer = "";
          await this.evaluate(code); // unfinished at EOF: the agent says what is wrong with it
        }
        this.finish(this.lastFailed ? EXIT.failure : EXIT.ok);
      }
    } finally {
      this.pumping = false;
    }
    if (this.queue.length > 0) void this.pump();
    else this.showPrompt();
  }

  private async handle(line: string): Promise<void> {
    const command = COMMAND_LINE.exec(line);
    if (command && (this.buffer === "" || this.midInput.has(command[1]))) {
      await this.dotCommand(command[1], command[2] ?? "");
      return;
    }
    this.buffer = this.buffer === "" ? line : `${this.buffer}\n${line}`;
    if (needsMoreInput(this.buffer)) return;
    const code = this.buffer;
    this.buffer = "";
    if (code.trim() === "") return;
    await this.evaluate(code);
  }

  private async evaluate(code: string): Promise<void> {
    this.evaluating = true;
    let outcome: Awaited<ReturnType<ManholeClient["eval"]>>;
    try {
      outcome = await this.client.eval(code, (text) => this.write(text));
    } catch (err) {
      if (!this.done) this.writeError(`manhole: ${err instanceof Error ? err.message : String(err)}`);
      this.lastFailed = true;
      return;
    } finally {
      this.evaluating = false;
    }
    if (this.done) return;
    if (!this.atLineStart) this.write("\n");
    if (outcome.ok) this.write(`${outcome.text}\n`);
    else this.writeError(outcome.text);
    this.lastFailed = !outcome.ok;
  }

  /** `app:pid> `, and `app:pid[worker 3]> ` while the session evaluates in a worker thread (`.worker`). */
  private promptFor(worker: number | undefined): string {
    const { app, pid } = this.client.info;
    return `${this.c.cyan(`${app}:${pid}`)}${worker === undefined ? "" : this.c.yellow(`[worker ${worker}]`)}${this.c.bold(">")} `;
  }

  /** Every dot-command is the agent's (describe); its reply says what it did to the session. */
  private async dotCommand(name: string, args: string): Promise<void> {
    let result: Awaited<ReturnType<ManholeClient["command"]>>;
    try {
      result = await this.client.command(name, args);
    } catch (err) {
      result = { ok: false, text: `manhole: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (this.done) return;
    if (result.session?.clearInput) this.buffer = "";
    if (result.session?.worker !== undefined) this.prompt = this.promptFor(result.session.worker ?? undefined);
    if (result.session?.leave) {
      this.finish(EXIT.ok);
      return;
    }
    if (!result.ok) {
      this.writeError(result.text);
    } else {
      let text = result.text;
      if (name === "help" && this.tty) {
        text +=
          "\n\nIn this client: Ctrl-C interrupts the running evaluation (or clears the line), Ctrl-D leaves," +
          `\nTab completes, Up/Down browse the history${this.history ? ` (${this.history.file})` : ""}.`;
      }
      if (text !== "") this.write(text.endsWith("\n") ? text : `${text}\n`);
    }
    this.lastFailed = !result.ok;
  }

  /** Ends the session once: a note (if any), the terminal restored, the connection closed. */
  private finish(code: number, note?: string): void {
    if (this.done) return;
    this.done = true;
    if (note) {
      if (this.tty) {
        if (this.prompting) this.clearPromptArea();
        else if (!this.atLineStart) this.out.write("\n");
        this.out.write(`${this.c.dim(`manhole: ${note}`)}\n`);
      } else {
        this.err.write(`manhole: ${note}\n`);
      }
    }
    this.prompting = false;
    this.rl.close();
    this.client.onClose = () => {};
    this.client.onAsyncOutput = () => {};
    this.client.close();
    setTimeout(() => this.client.destroy(), 500).unref();
    this.resolveDone(code);
  }
}

export async function connect(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["timeout", "signal", ...TCP_VALUED, ...REMOTE_VALUED]);
  const unknown = [...args.flags].find((f) => !(TCP_FLAGS as readonly string[]).includes(f));
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole connect --help)`);
  if (args.positionals.length !== 1) throw new UsageError("connect needs one <pid|socket> (see manhole connect --help)");
  const timeoutMs = parseTimeout(args) ?? 5000;
  const { socket, tcp } = await resolveEndpoint(args.positionals[0], args, timeoutMs);

  const client = await ManholeClient.connect(socket, { timeoutMs, tcp });
  const midInput = new Set((await client.describe()).filter((c) => c.midInput).map((c) => c.name));
  const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  const session = new InteractiveSession(
    client,
    tty,
    { input: process.stdin, output: process.stdout, error: process.stderr },
    tty ? new History(historyPath()) : undefined,
    midInput,
  );
  session.start();
  return session.finished;
}

export const connectCommand: CliCommand = {
  name: "connect",
  summary: "an interactive session in a process (also: manhole <pid>)",
  help: connectHelp,
  run: connect,
};
