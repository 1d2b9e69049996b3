/**
 * The one way a duration is printed, by the agent (banner, `.stack`, interrupts) and the CLI
 * (`ls`, prompts): `850 ms`, `3.2 s`, `42 s`, `3m12s`, `1h02m`, `2d03h`.
 */
export function formatDuration(ms: number | null | undefined, { compact = false } = {}): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "?";
  const unit = compact ? "" : " ";
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}${unit}ms`;
  const s = ms / 1000;
  if (s < 10) return `${(Math.floor(s * 10) / 10).toFixed(1)}${unit}s`;
  if (s < 60) return `${Math.floor(s)}${unit}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, "0")}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, "0")}h`;
}
