/** One audit log record (docs/security.md): what the agent writes, and what an `audit` function receives. */

/** Who is on the other end of the socket, when the agent can tell (peer credentials; a TCP peer's address). */
export interface AuditPeer {
  pid?: number;
  uid?: number;
  /** A TCP peer's address. */
  address?: string;
}

/**
 * "exit": the process exited while the evaluation ran (e.g. it called process.exit()).
 * "closed": the manhole was closed (handle.close()) while it ran.
 */
export type AuditOutcome = "ok" | "error" | "interrupted" | "refused" | "exit" | "closed";

export interface AuditEvent {
  /** When it happened (for an evaluation or command: when it started), ISO 8601. */
  time: string;
  event: "session-open" | "session-close" | "eval" | "command" | "connection-refused";
  /** The session's id, unique within this manhole; 0 for a refused connection (it never became a session). */
  session: number;
  /** The connecting process, as far as known; members absent when unknown. */
  peer: AuditPeer;
  /** eval: the code; command: the command line (`.stack`). */
  input?: string;
  /** Present (true) when `input` was cut at MAX_AUDIT_INPUT characters. */
  truncated?: true;
  /** eval and command only. */
  outcome?: AuditOutcome;
  /** eval and command: how long it took; session-close: how long the session lasted. */
  durationMs?: number;
  /** connection-refused: why (`wrong token`, `no token`, `too many failed attempts (locked out)`, ...). */
  reason?: string;
}
