/**
 * The audit log: one event per session opened or closed and per evaluation or dot-command,
 * recorded by whichever thread owns the sessions.
 *
 * - A file (`audit: "/var/log/app/manhole.jsonl"`): one JSON line per event, appended (flags "a",
 *   mode 0600 when created) through one fd, asynchronously and in order, so that recording never
 *   blocks an evaluation. A failure to open or write is reported once on the app's stderr and is
 *   never thrown into the app.
 * - A function (`audit: (event) => ...`): called on the main thread with each event, inside
 *   try/catch. In threaded mode the worker relays the events to the main thread (relay.ts
 *   AuditMessage), since a function cannot be cloned into the worker.
 */
import fs from "node:fs";
import type { AuditEvent, AuditOutcome, AuditPeer } from "../protocol/audit-event.js";
import type { Outcome } from "../protocol/outcome.js";

/** Longest input recorded, in UTF-16 code units; longer inputs are cut and flagged `truncated`. */
export const MAX_AUDIT_INPUT = 4096;

export type { AuditEvent, AuditOutcome, AuditPeer } from "../protocol/audit-event.js";

import type { AuditOption } from "./audit-option.js";

export { type AuditOption, type AuditTarget, auditOption, auditTarget } from "./audit-option.js";

/** Where the socket side records events. */
export interface Auditor {
  record(event: AuditEvent): void;
  /** Writes what is still queued, then releases the file. */
  close(): Promise<void>;
}

function report(text: string): void {
  try {
    fs.writeSync(2, `manhole: ${text}\n`);
  } catch {
    // stderr is gone: nothing left to tell
  }
}

/** Most lines kept waiting for the disk; beyond this new events are dropped (and said so, once). */
const MAX_QUEUED = 10_000;

/** Appends JSON lines to a file: opened once, written asynchronously and in order. */
export class FileAuditor implements Auditor {
  private fd: number | undefined;
  private opening: Promise<void>;
  private queue: string[] = [];
  private writing = false;
  private failed = false;
  private closed = false;
  private idle: (() => void)[] = [];

  constructor(private readonly file: string) {
    this.opening = new Promise((resolve) => {
      fs.open(file, "a", 0o600, (err, fd) => {
        if (err) this.fail(err);
        else this.fd = fd;
        resolve();
        this.flush();
      });
    });
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    const why = err instanceof Error ? err.message : String(err);
    report(`cannot write the audit log ${this.file} (${why}); audit events are being lost`);
  }

  record(event: AuditEvent): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED) {
      this.fail(new Error(`more than ${MAX_QUEUED} events waiting for the disk`));
      return;
    }
    this.queue.push(`${JSON.stringify(event)}\n`);
    this.flush();
  }

  private flush(): void {
    if (this.writing) return; // its callback flushes again
    if (this.fd === undefined) {
      if (!this.failed) return; // still opening: the open callback flushes
      this.queue = []; // could not open: nothing will be written
    }
    if (this.fd === undefined || this.queue.length === 0) {
      for (const resolve of this.idle.splice(0)) resolve();
      return;
    }
    const fd = this.fd;
    const data = Buffer.from(this.queue.join(""));
    this.queue = [];
    this.writing = true;
    const write = (offset: number) => {
      fs.write(fd, data, offset, data.length - offset, null, (err, written) => {
        if (!err && offset + written < data.length) {
          write(offset + written);
          return;
        }
        if (err) this.fail(err); // these lines are lost; later ones are still tried (a full disk may recover)
        this.writing = false;
        this.flush();
      });
    };
    write(0);
  }

  async close(): Promise<void> {
    await this.opening;
    if (!this.closed) {
      this.closed = true;
      await new Promise<void>((resolve) => {
        this.idle.push(resolve);
        this.flush();
      });
      const fd = this.fd;
      this.fd = undefined;
      if (fd !== undefined) await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
  }
}

/** Calls the app's function, on the main thread; whatever it does stays inside it. */
export class FunctionAuditor implements Auditor {
  private complained = false;

  constructor(private readonly fn: (event: AuditEvent) => void) {}

  private complain(err: unknown): void {
    if (this.complained) return;
    this.complained = true;
    let why: string;
    try {
      why = err instanceof Error ? err.message : String(err);
    } catch {
      why = "a value that cannot be shown";
    }
    report(`the audit function threw (${why}); later failures are not reported`);
  }

  record(event: AuditEvent): void {
    try {
      const result: unknown = this.fn(event);
      if (result instanceof Promise) result.catch((err: unknown) => this.complain(err));
    } catch (err) {
      this.complain(err);
    }
  }

  async close(): Promise<void> {}
}

/** The worker's side of a function audit: each event goes to the main thread. */
export class RelayAuditor implements Auditor {
  constructor(private readonly post: (event: AuditEvent) => void) {}

  record(event: AuditEvent): void {
    this.post(event);
  }

  async close(): Promise<void> {}
}

/** Validates the option; undefined means no audit. */
/** How an evaluation ended, for the log. */
export function evalOutcome(outcome: Outcome): AuditOutcome {
  // The log's "interrupted" covers every stop of the manhole's own: asked, timed out, or never started.
  const { kind } = outcome;
  return kind === "ok" || kind === "error" || kind === "refused" ? kind : "interrupted";
}

type Finish = (outcome: AuditOutcome) => void;

/** Without an audit log: one function for every evaluation, nothing allocated per input. */
const NOT_AUDITED: Finish = () => {};

/** Per auditor, the evaluations and commands begun and not yet recorded, of every session. */
const unfinished = new WeakMap<Auditor, Set<Finish>>();

/**
 * The manhole is closing: records what is still under way with outcome "closed", before the
 * sessions' close events and before the auditor closes (nothing would record it later).
 */
export function recordUnfinished(auditor: Auditor | undefined): void {
  if (!auditor) return;
  for (const finish of [...(unfinished.get(auditor) ?? [])]) finish("closed");
}

/** One session's view of the audit log: fills in time, session, peer and duration. */
export class SessionAudit {
  private readonly openedAt = performance.now();

  constructor(
    private readonly auditor: Auditor | undefined,
    private readonly session: number,
    private readonly peer: () => AuditPeer,
  ) {}

  private record(event: Omit<AuditEvent, "session" | "peer">): void {
    if (!this.auditor) return;
    const { pid, uid, address } = this.peer();
    const peer: AuditPeer = {};
    if (pid !== undefined) peer.pid = pid;
    if (uid !== undefined) peer.uid = uid;
    if (address !== undefined) peer.address = address;
    const { time, event: kind, ...rest } = event;
    this.auditor.record({ time, event: kind, session: this.session, peer, ...rest });
  }

  opened(): void {
    this.record({ time: new Date().toISOString(), event: "session-open" });
  }

  closed(): void {
    this.record({ time: new Date().toISOString(), event: "session-close", durationMs: elapsed(this.openedAt) });
  }

  /** An evaluation or command starts; call the result with how it ended (only the first call counts). */
  begin(kind: "eval" | "command", input: string): Finish {
    const { auditor } = this;
    if (!auditor) return NOT_AUDITED;
    const time = new Date().toISOString();
    const started = performance.now();
    const cut = input.length > MAX_AUDIT_INPUT;
    const pending = unfinished.get(auditor) ?? new Set<Finish>();
    unfinished.set(auditor, pending);
    // Once only: one recorded as "closed" may still end later, after the log has closed.
    const finish: Finish = (outcome) => {
      if (!pending.delete(finish)) return;
      this.record({
        time,
        event: kind,
        input: cut ? input.slice(0, MAX_AUDIT_INPUT) : input,
        ...(cut ? { truncated: true as const } : {}),
        outcome,
        durationMs: elapsed(started),
      });
    };
    pending.add(finish);
    return finish;
  }
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

/**
 * At process exit, on the main thread: one line (or call) per evaluation still under way,
 * typically the one that called process.exit(). Written synchronously: nothing runs later.
 */
export function auditAtExit(option: AuditOption, running: { session: number; code: string; time: string; started: number }[]): void {
  for (const r of running) {
    const cut = r.code.length > MAX_AUDIT_INPUT;
    const event: AuditEvent = {
      time: r.time,
      event: "eval",
      session: r.session,
      peer: {},
      input: cut ? r.code.slice(0, MAX_AUDIT_INPUT) : r.code,
      ...(cut ? { truncated: true as const } : {}),
      outcome: "exit",
      durationMs: elapsed(r.started),
    };
    try {
      if (typeof option === "string") fs.appendFileSync(option, `${JSON.stringify(event)}\n`, { mode: 0o600 });
      else option(event);
    } catch {
      // exiting: nowhere left to report to
    }
  }
}
