/**
 * The structured protocol on a session (src/protocol/structured.ts): JSON lines with request
 * ids, streamed output, values as JSON, errors with their parts, completion, interrupt and
 * every operation. A session enters it with a `hello` as its first line.
 */

import { REFUSED_MESSAGE } from "../../protocol/outcome.js";
import type { Reply, Request } from "../../protocol/structured.js";
import { PROTOCOL_ERRORS, OPERATIONS as REQUESTS } from "../../protocol/structured.js";
import { PROTOCOL_VERSION } from "../../protocol/version.js";
import { declarations } from "../operations/registry.js";
import type { Actions } from "./actions.js";

/** The evaluation id of a request whose evaluation has started but not yet been numbered. */
const PENDING = -1;

export type HelloInfo = Omit<Extract<Reply, { op: "hello" }>, "op" | "id" | "protocol">;

export interface StructuredLink {
  hello(): HelloInfo;
  write(line: string): void;
  /** Writes `line`, resolving once the socket has taken it (at once if its buffer has room, else on drain or close). */
  writePaced(line: string): Promise<void>;
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
  private running: { request: number; evaluation: number; replied: Promise<void> } | undefined;
  /** The request id of the operation under way, if any (for `interrupt {target}`). */
  private operating: number | undefined;
  private drained: Promise<void> = Promise.resolve();
  /** The session has closed: what is still queued must not run. */
  private stopped = false;

  constructor(
    private readonly actions: Actions,
    private readonly link: StructuredLink,
  ) {}

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

  private refuse(id: number): void {
    this.fail(id, PROTOCOL_ERRORS.observeOnly, REFUSED_MESSAGE);
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
        if (r.worker !== undefined && r.worker !== "main" && !(Number.isSafeInteger(r.worker) && r.worker >= 0)) {
          return this.fail(r.id, PROTOCOL_ERRORS.badRequest, '"worker" must be a thread id (an integer) or "main"');
        }
        if (this.actions.observeOnly) {
          await this.actions.evaluate(r.code, true); // audited as refused
          return this.refuse(r.id);
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
        const done = await this.actions.complete(r.text);
        if (!done) return this.refuse(r.id);
        this.send({ op: "completions", id: r.id, items: done.items, prefix: done.prefix });
        return;
      }
      case "interrupt":
        return this.interrupt(r);
      case "command":
        return this.command(r);
      case "describe":
        this.send({
          op: "describe",
          id: r.id,
          ops: REQUESTS,
          commands: declarations(),
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

  /** Only this session's running evaluation or operation (the target, if named); never another session's. */
  private async interrupt(r: Extract<Request, { op: "interrupt" }>): Promise<void> {
    const run = this.running;
    const nothing = () => this.send({ op: "result", id: r.id, text: "nothing to interrupt" });
    if (this.operating !== undefined && (r.target === undefined || r.target === this.operating)) {
      await this.actions.interrupt();
      this.send({ op: "result", id: r.id, text: "interrupted" });
      return;
    }
    if (!run || run.evaluation === PENDING || (r.target !== undefined && r.target !== run.request)) return nothing();
    const { result } = await this.actions.interrupt(run.evaluation);
    // What happened to it, once its own reply has been sent.
    const texts: Record<NonNullable<typeof result>, string> = {
      interrupted: "interrupted",
      cancelled: "cancelled: it had not started and will not run",
      finished: "nothing to interrupt: the evaluation had finished",
      "not-stopped": "not stopped: the evaluation goes on (its error says why)",
    };
    await run.replied;
    this.send({ op: "result", id: r.id, text: texts[result ?? "interrupted"] });
  }

  /** The worker this session was in exited: it is back on the main thread. */
  workerExited(_threadId: number, text: string): void {
    this.send({ op: "session", id: null, session: { worker: null }, text });
  }

  /** The agent is closing, or the session is (idle): the last line this session gets. */
  goodbye(reason = "the manhole is closing"): void {
    this.send({ op: "bye", id: null, reason });
  }

  /** Resolves once every evaluation asked for so far has been answered. */
  async idle(): Promise<void> {
    while (this.running || this.evals.length) await this.drained;
  }

  /** Evaluations run one at a time, in the order they came. */
  private async drain(): Promise<void> {
    for (let r = this.evals.shift(); r && !this.stopped; r = this.evals.shift()) {
      // Without a worker the evaluation runs inside evaluate(): its output arrives before the id.
      const request = r.id;
      let sent = () => {};
      const replied = new Promise<void>((resolve) => {
        sent = resolve;
      });
      this.running = { request, evaluation: PENDING, replied };
      const outcome = await this.actions.evaluate(
        r.code,
        true,
        (id) => {
          this.running = { request, evaluation: id, replied };
        },
        (notice) => {
          if (notice.kind === "note") this.send({ op: "out", id: request, text: `${notice.text}\n` });
          else this.send({ op: "blocked", id: request, ...notice.at, text: notice.text });
        },
        r.worker,
      );
      this.running = undefined;
      if (outcome.kind === "ok") {
        let json: unknown;
        if (outcome.json !== undefined) json = JSON.parse(outcome.json);
        this.send({ op: "value", id: request, text: outcome.text, ...(outcome.json !== undefined ? { json } : {}) });
      } else {
        this.send({ op: "error", id: request, text: outcome.text, ...(outcome.error ? { error: outcome.error } : {}) });
      }
      sent();
    }
  }

  private async command(r: Extract<Request, { op: "command" }>): Promise<void> {
    const name = typeof r.name === "string" ? r.name.replace(/^\./, "") : String(r.name);
    const args =
      r.args === undefined ? "" : typeof r.args === "string" || (typeof r.args === "object" && r.args !== null) ? r.args : undefined;
    if (args === undefined) return this.fail(r.id, PROTOCOL_ERRORS.badRequest, '"args" must be a string or an object');
    this.operating = r.id;
    let outcome: Awaited<ReturnType<Actions["operate"]>>;
    try {
      outcome = await this.actions.operate(
        name,
        args as string | Record<string, unknown>,
        (text) => this.send({ op: "out", id: r.id, text }),
        (event, text, data) => this.send({ op: "event", id: r.id, event, text, data }),
        (frame) => this.link.writePaced(`${JSON.stringify({ ...frame, id: r.id })}\n`),
      );
    } finally {
      this.operating = undefined;
    }
    switch (outcome.kind) {
      case "unknown":
        return this.fail(r.id, PROTOCOL_ERRORS.unknownOp, `unknown command "${String(r.name)}"`);
      case "refused":
        return this.refuse(r.id);
      case "bad-args":
        return this.fail(r.id, PROTOCOL_ERRORS.badRequest, outcome.text);
      case "busy":
        return this.fail(r.id, PROTOCOL_ERRORS.busy, outcome.text);
      case "error":
        return this.fail(r.id, "OperationFailed", outcome.text);
    }
    this.send({
      op: "result",
      id: r.id,
      text: outcome.text,
      ...(outcome.json !== undefined ? { json: outcome.json } : {}),
      ...(outcome.confirm ? { confirm: outcome.confirm } : {}),
      ...(outcome.leave || outcome.clearedInput || outcome.worker !== undefined
        ? {
            session: {
              ...(outcome.clearedInput ? { clearInput: true as const } : {}),
              ...(outcome.leave ? { leave: true as const } : {}),
              ...(outcome.worker !== undefined ? { worker: outcome.worker } : {}),
            },
          }
        : {}),
    });
    if (outcome.leave) this.link.leave();
  }
}
