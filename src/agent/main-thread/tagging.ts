/**
 * What containment needs to know of the code that runs: whether it is manhole code, and whose.
 * Two ways to know it (containment.ts picks one per process): the async context that Node 24
 * and later carry through every callback and promise reaction at no cost to the app
 * (tagging-by-context.ts), or hooks that tag what manhole code starts, on only while manhole work
 * exists (tagging-by-hooks.ts).
 */

/** Writes to a session (or, once it has gone, to the audit log or stderr). */
export type Reporter = (text: string) => void;

export interface Tagger {
  /** "context" or "hooks": which way this process tells manhole code apart. */
  readonly design: "context" | "hooks";
  /** Runs `fn` as manhole code of the session that `report` writes to. */
  run<T>(report: Reporter, fn: () => T): T;
  /** Runs `fn` as the agent's own code: nothing it starts is tagged. */
  asAgent<T>(fn: () => T): T;
  /** Marks a promise (an evaluation's result) as manhole-owned after the fact. */
  tagPromise(promise: object, report: Reporter): void;
  /** In an `uncaughtExceptionMonitor` listener: the session whose callback threw, if any. */
  thrower(): Reporter | undefined;
  /** As Node emits `unhandledRejection`: the session the rejected promise belongs to, if any. */
  rejecter(promise: object): Reporter | undefined;
  /**
   * In an `uncaughtExceptionMonitor` listener for a rejection that Node raises before it emits it
   * (--unhandled-rejections=strict): the session the rejected promise belongs to, if any.
   */
  rejecting(): Reporter | undefined;
  /** Whether manhole work may still reject a promise: the rejection filter must stay on. */
  live(): boolean;
  /** After a terminated evaluation: its frames never unwound. */
  reset(): void;
  /** What keeps hooks on (for diagnostics and tests). */
  pending(): { hooksOn: boolean; switchedOn: number; promises: number; resources: number };
}
