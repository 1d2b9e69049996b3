/**
 * The structured protocol on a session (src/protocol/structured.ts): JSON lines with request
 * ids, streamed output, values as JSON, errors with their parts, completion, interrupt and
 * every dot-command as an operation. A session enters it with a `hello` as its first line.
 */
import type { Reply, Request } from "../../protocol/structured.js";
import { OPERATIONS, PROTOCOL_ERRORS } from "../../protocol/structured.js";
import { PROTOCOL_VERSION } from "../../protocol/version.js";
import { evalOutcome, type SessionAudit } from "../audit.js";
import { COMMANDS, type CommandContext } from "../operations/registry.js";
import type { EvalChannel } from "./eval-channel.js";
import { allowedWhenObserving, REFUSED_MESSAGE } from "./observe-only.js";
import type { Supervisor } from "./supervisor.js";

/** The evaluation id of a request whose evaluation has started but not yet been numbered. */
const PENDING = -1;

export type HelloInfo = Omit<Extract<Reply, { op: "hello" }>, "op" | "id" | "protocol">;

export interface StructuredLink {
  session: number;
  channel: EvalChannel;
  supervisor: Supervisor;
  audit: SessionAudit;
  hello(): HelloInfo;
  write(line: string): void;
  leave(): void;
}

/** Does this first line of a connection ask for the structured protocol? */
export function isHello(line: string): boolean {
  return /^\s*\{\s*"op"\s*:\s*"hello"/.test(line);
}

function isRequest(value: unknown): value is Request {
  if (typeof value !== "object" || value === null) return false;
  const { op, id } = value as { op?: unknown; id?: unknown };
  return typeof op === "string" && typeof id === "number" && Number.isSafeInteger(id) && id > 0;
}

export class StructuredMode {
  private greeted = false;
  private readonly evals: Extract<Request, { op: "eval" }>[] = [];
  private running: { request: number; evaluation: number } | undefined;
  private drained: Promise<void> = Promise.resolve();
  /** The session has closed: what is still queued must not run. */
  private stopped = false;

  constructor(private readonly link: StructuredLink) {}

  /** The session closed (client gone, or the manhole closing): drops the evaluations still queued. */
  stop(): void {
    this.stopped = true;
    this.evals.length = 0;
  }

  private send(reply: Reply): void {
    this.link.write(`${JSON.stringify(reply)}\n`);
  }

  private fail(id: number | null, name: string, message: string): void {
    this.send({ op: "error", id: id ?? 0, text: `${name}: ${message}`, error: { name, message } });
  }

  /** observeOnly: is this refused? Then it has been answered so. */
  private refused(id: number): boolean {
    if (!this.link.channel.policy.observeOnly) return false;
    this.fail(id, PROTOCOL_ERRORS.observeOnly, REFUSED_MESSAGE);
    return true;
  }

  /** Output of manhole code: tied to the running request, or `id: null` between requests. */
  output(text: string, evaluation: number): void {
    const run = this.running;
    const id = run && (run.evaluation === evaluation || run.evaluation === PENDING) ? run.request : null;
    this.send({ op: "out", id, text });
  }

  line(text: string): void {
    let request: unknown;
    try {
      request = JSON.parse(text);
    } catch {
      this.fail(null, PROTOCOL_ERRORS.badRequest, "not a JSON object");
      return;
    }
    if (!isRequest(request)) {
      this.fail(null, PROTOCOL_ERRORS.badRequest, 'a request needs "op" (a string) and "id" (a positive integer)');
      return;
    }
    if (!this.greeted && request.op !== "hello") {
      this.fail(request.id, PROTOCOL_ERRORS.badRequest, "send hello first");
      return;
    }
    void this.dispatch(request).catch((err: unknown) => this.fail(request.id, "InternalError", String(err)));
  }

  private async dispatch(r: Request): Promise<void> {
    switch (r.op) {
      case "hello": {
        const offered = Array.isArray(r.protocol) ? r.protocol : [];
        if (!offered.includes(PROTOCOL_VERSION)) {
          this.fail(
            r.id,
            PROTOCOL_ERRORS.version,
            `the agent speaks protocol ${PROTOCOL_VERSION}, the client offered ${JSON.stringify(offered)}`,
          );
          this.link.leave();
          return;
        }
        this.greeted = true;
        this.send({ op: "hello", id: r.id, protocol: PROTOCOL_VERSION, ...this.link.hello() });
        return;
      }
      case "eval":
        if (typeof r.code !== "string") return this.fail(r.id, PROTOCOL_ERRORS.badRequest, '"code" must be a string');
        if (this.link.channel.policy.observeOnly) {
          this.link.audit.begin("eval", r.code)("refused");
          this.refused(r.id);
          return;
        }
        if (this.stopped) return;
        this.evals.push(r);
        if (!this.running) {
          this.drained = this.drain();
          await this.drained;
        }
        return;
      case "complete": {
        if (typeof r.text !== "string") return this.fail(r.id, PROTOCOL_ERRORS.badRequest, '"text" must be a string');
        if (this.refused(r.id)) return;
        const { items, prefix } = await this.link.channel.complete(this.link.session, r.text);
        this.send({ op: "completions", id: r.id, items, prefix });
        return;
      }
      case "interrupt": {
        // Only this session's running evaluation (the target, if named); never another session's.
        const run = this.running;
        if (!run || run.evaluation === PENDING || (r.target !== undefined && r.target !== run.request)) {
          this.send({ op: "result", id: r.id, text: "nothing to interrupt" });
          return;
        }
        await this.link.supervisor.interrupt(run.evaluation, this.link.session);
        this.send({ op: "result", id: r.id, text: "interrupted" });
        return;
      }
      case "command":
        return this.command(r);
      case "describe":
        this.send({
          op: "describe",
          id: r.id,
          ops: OPERATIONS,
          commands: [...COMMANDS.values()].map((c) => ({ name: c.name, help: c.help })),
        });
        return;
      case "close":
        this.send({ op: "bye", id: r.id });
        this.link.leave();
        return;
      default:
        this.fail((r as { id: number }).id, PROTOCOL_ERRORS.unknownOp, `unknown op "${(r as { op: string }).op}" (see describe)`);
    }
  }

  /** The agent is closing: the last line this session gets. */
  goodbye(): void {
    this.send({ op: "bye", id: null, reason: "the manhole is closing" });
  }

  /** Resolves once every evaluation asked for so far has been answered. */
  async idle(): Promise<void> {
    while (this.running || this.evals.length) await this.drained;
  }

  /** Evaluations run one at a time, in the order they came. */
  private async drain(): Promise<void> {
    for (let r = this.evals.shift(); r && !this.stopped; r = this.evals.shift()) {
      // Without a worker the evaluation runs inside evaluate(): its output arrives before the id.
      this.running = { request: r.id, evaluation: PENDING };
      const audited = this.link.audit.begin("eval", r.code);
      const { id, done } = this.link.channel.evaluate(this.link.session, r.code, true);
      this.running = { request: r.id, evaluation: id };
      const stopWatching = this.link.supervisor.watch(id);
      const outcome = await done;
      stopWatching();
      this.running = undefined;
      audited(evalOutcome(outcome));
      if (outcome.kind === "ok") {
        let json: unknown;
        if (outcome.json !== undefined) json = JSON.parse(outcome.json);
        this.send({ op: "value", id: r.id, text: outcome.text, ...(outcome.json !== undefined ? { json } : {}) });
      } else {
        this.send({ op: "error", id: r.id, text: outcome.text, outcome: outcome.kind, ...(outcome.error ? { error: outcome.error } : {}) });
      }
    }
  }

  private async command(r: Extract<Request, { op: "command" }>): Promise<void> {
    const name = typeof r.name === "string" ? r.name.replace(/^\./, "") : undefined;
    const command = name === undefined ? undefined : COMMANDS.get(name);
    const args = typeof r.args === "string" ? r.args : "";
    const audited = this.link.audit.begin("command", `.${name ?? String(r.name)}${args ? ` ${args}` : ""}`);
    if (!command) {
      audited("error");
      return this.fail(r.id, PROTOCOL_ERRORS.unknownOp, `unknown command "${String(r.name)}"`);
    }
    if (this.link.channel.policy.observeOnly && !allowedWhenObserving(command.name)) {
      audited("refused");
      this.refused(r.id);
      return;
    }
    let leave = false;
    const ctx: CommandContext = {
      args,
      supervisor: this.link.supervisor,
      commands: COMMANDS,
      clearInput: () => {},
      leave: () => {
        leave = true;
      },
    };
    let text: string;
    try {
      text = (await command.run(ctx)) ?? "";
    } catch (err) {
      audited("error");
      throw err; // answered as InternalError by line()
    }
    audited("ok");
    this.send({ op: "result", id: r.id, text });
    if (leave) this.link.leave();
  }
}
