/**
 * Is an input finished, or should the session ask for more lines? An input is incomplete
 * when the parser runs out of text before it finds an error: an open brace or bracket, an
 * unterminated template or comment, a trailing operator.
 */
import { acornParser } from "./parser.js";
import { looksTypeScript } from "./typescript-syntax.js";

const OPTIONS = { ecmaVersion: "latest", sourceType: "script", allowAwaitOutsideFunction: true } as const;
const ALWAYS_INCOMPLETE = /^Unterminated (template|comment)/;

type State = "complete" | "incomplete" | "error";

/** `end`: where the text the user typed ends (a wrapper may add text after it). */
function parseState(code: string, end: number): State {
  try {
    acornParser().parse(code, OPTIONS);
    return "complete";
  } catch (err) {
    if (!(err instanceof SyntaxError)) return "error";
    const { pos, raisedAt } = err as SyntaxError & { pos?: number; raisedAt?: number };
    if (ALWAYS_INCOMPLETE.test(err.message)) return "incomplete";
    // A string cut by a backslash-newline continues on the next line.
    if (/^Unterminated string constant/.test(err.message)) return /\\\s*$/.test(code) ? "incomplete" : "error";
    return (raisedAt ?? pos ?? 0) >= end && (pos ?? 0) >= end ? "incomplete" : "error";
  }
}

const OPENS = new Set(["{", "[", "(", "${"]);
const CLOSES = new Set(["}", "]", ")"]);
/** Tokens after which an expression must follow (besides binary operators). */
const CONTINUES = new Set(["=", "_=", ",", ".", "?.", "=>", "?", ":", "..."]);

/**
 * TypeScript that JavaScript calls an error (`interface X {`, `function f(a: number) {`): it
 * is unfinished while a bracket is still open or it ends in an operator, as JavaScript would be.
 */
function openTypeScript(code: string): boolean {
  if (!looksTypeScript(code)) return false;
  let depth = 0;
  let last: { label: string; binop?: number | null } | undefined;
  try {
    for (const token of acornParser().tokenizer(code, OPTIONS)) {
      const label = token.type.label;
      if (OPENS.has(label)) depth++;
      else if (CLOSES.has(label)) depth--;
      last = token.type;
    }
  } catch (err) {
    return err instanceof SyntaxError && ALWAYS_INCOMPLETE.test(err.message);
  }
  const trailing = last !== undefined && ((last.binop ?? null) !== null || CONTINUES.has(last.label));
  return depth > 0 || trailing;
}

export function needsMoreInput(code: string): boolean {
  if (code.trim() === "") return false;
  const state = parseState(code, code.trimEnd().length);
  if (state === "error" && openTypeScript(code)) return true;
  if (state !== "error" || !/^\s*\{/.test(code)) return state === "incomplete";
  // `{` may open an object literal spread over lines (`{`, `a: 1,`, `b: 2`, `}`): as a block
  // that is an error, as an expression it is unfinished.
  const wrapped = `(${code}\n)`;
  return parseState(wrapped, 1 + code.trimEnd().length) === "incomplete";
}
