/**
 * `observeOnly: true`: the manhole evaluates nothing and completes nothing; the diagnostics
 * stay. Every refusal says so, and is audited as outcome "refused".
 */

/** What a refused human-mode input prints (before the prompt). */
export const REFUSED_TEXT = "Refused: this manhole is observe-only (evaluation is disabled)";

/** The structured error's message (its name is PROTOCOL_ERRORS.observeOnly). */
export const REFUSED_MESSAGE = "this manhole is observe-only (evaluation is disabled)";

/** The line the banner gains. */
export const OBSERVE_ONLY_BANNER = "This manhole is observe-only: evaluation is disabled; .stack, .help and .exit work.\n";

/**
 * Dot-commands that run in observe-only mode: they only look, or manage the session itself.
 * An allowlist, so that a command added later is refused until it is known to be harmless.
 */
const DIAGNOSTICS: ReadonlySet<string> = new Set(["help", "exit", "break", "stack"]);

export function allowedWhenObserving(command: string): boolean {
  return DIAGNOSTICS.has(command);
}
