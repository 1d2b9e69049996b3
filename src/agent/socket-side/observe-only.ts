/**
 * `observeOnly: true`: the manhole evaluates nothing and completes nothing; the diagnostics
 * stay. Every refusal says so, and is audited as outcome "refused".
 */

/** The line the banner gains, naming what still works (from each operation's own declaration). */
export function observeOnlyBanner(working: string): string {
  return `This manhole is observe-only: evaluation is disabled; ${working} work.\n`;
}
