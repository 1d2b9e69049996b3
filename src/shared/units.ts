/** Byte counts and milliseconds as the diagnostics print them (agent operations and `manhole top`). */

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** `512 B`, `3.4 KiB`, `84.2 MiB`, `4.0 GiB`; signed with `sign` (`+3.1 MiB`, `-0.5 MiB`). */
export function formatBytes(bytes: number | null | undefined, { sign = false } = {}): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "?";
  const prefix = sign ? (bytes < 0 ? "-" : "+") : bytes < 0 ? "-" : "";
  let n = Math.abs(bytes);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${prefix}${unit === 0 ? n : n.toFixed(1)} ${UNITS[unit]}`;
}

/** Milliseconds with a precision that fits: `0.12 ms`, `3.4 ms`, `250 ms`, `1.2 s`. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "?";
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 100) return `${Math.round(ms)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}
