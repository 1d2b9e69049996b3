/** What the two serving modes (threaded: a worker owns the socket; inline: the main thread does) give startManhole(). */
import type { AuditOption } from "./audit.js";

/** What every session must respect: observe-only, and the audit option (a file path made absolute). */
export interface Access {
  observeOnly: boolean;
  audit: AuditOption | undefined;
  /** oneshot: told on the main thread when the one session has ended. */
  oneshotDone?: () => void;
}

export interface Serving {
  close(): Promise<void>;
  /** Synchronous cleanup for process exit. */
  removeSocket(): void;
  tcpPort?: number;
}
