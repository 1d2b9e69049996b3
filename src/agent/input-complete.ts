/**
 * Is an input finished, or should the session ask for more lines? An input is incomplete
 * when the parser runs out of text before it finds an error: an open brace or bracket, an
 * unterminated template or comment, a trailing operator.
 */
import { acornParser } from "./parser.js";

const OPTIONS = { ecmaVersion: "latest", sourceType: "script", allowAwaitOutsideFunction: true } as const;
const ALWAYS_INCOMPLETE = /^Unterminated (template|comment)/;

export function needsMoreInput(code: string): boolean {
  if (code.trim() === "") return false;
  try {
    acornParser().parse(code, OPTIONS);
    return false;
  } catch (err) {
    if (!(err instanceof SyntaxError)) return false;
    const { pos, raisedAt } = err as SyntaxError & { pos?: number; raisedAt?: number };
    if (ALWAYS_INCOMPLETE.test(err.message)) return true;
    // A string cut by a backslash-newline continues on the next line.
    if (/^Unterminated string constant/.test(err.message)) return /\\\s*$/.test(code);
    const end = code.trimEnd().length;
    return (raisedAt ?? pos ?? 0) >= end && (pos ?? 0) >= end;
  }
}
