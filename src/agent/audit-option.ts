/**
 * The `audit` option as the app passes it, checked, and the form handed to the thread that
 * owns the sessions. Apart from audit.ts so that starting a manhole without an audit log never
 * loads the log's code.
 */
import type { AuditEvent } from "../protocol/audit-event.js";

/** What the app passes as the `audit` option. */
export type AuditOption = string | ((event: AuditEvent) => void);

/** The cloneable form handed to the thread that owns the sessions. */
export type AuditTarget = { kind: "file"; path: string } | { kind: "relay" };

export function auditOption(value: unknown): AuditOption | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "function") return value as (event: AuditEvent) => void;
  if (typeof value === "string" && value !== "") return value;
  throw new TypeError('manhole: option "audit" must be a file path (a non-empty string) or a function');
}

/** What the thread owning the sessions needs to know (a function stays on the main thread). */
export function auditTarget(option: AuditOption | undefined): AuditTarget | undefined {
  if (option === undefined) return undefined;
  return typeof option === "string" ? { kind: "file", path: option } : { kind: "relay" };
}
