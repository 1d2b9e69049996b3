/**
 * TypeScript input: types stripped before the input runs, for inputs that are not JavaScript as
 * they are (the evaluator tries JavaScript first, so JavaScript input never comes here).
 *
 * Strippers, in order: Node's own `module.stripTypeScriptTypes` (22.13+/23.2+; its strip mode
 * replaces types with spaces, so every position stays where the user typed it), else the
 * optional package `amaro` (the stripper Node itself bundles; it runs on Node 20). Neither is
 * touched before the first input that needs it: Node loads its stripper lazily, and amaro
 * (about 25 MB of memory once loaded) is required only then.
 *
 * `enum`, `namespace` and parameter properties need code, not just blanks: strip mode refuses
 * them, and they go through a transform instead (Node's `mode: "transform"` on 22 and 24, which
 * Node 26 no longer has; else amaro's), whose source map maps positions back to the input.
 *
 * Node's call prints an ExperimentalWarning on the app's stderr the first time: that warning,
 * and only that one, is dropped while our call runs (the app's own warnings pass through).
 */
import nodeModule from "node:module";
import { looksTypeScript } from "../../shared/typescript-syntax.js";
import { rewrite } from "./rewrite.js";
import { parseSourceMap } from "./source-map.js";

type NodeStrip = (code: string, options?: { mode?: "strip" | "transform"; sourceMap?: boolean }) => string;
interface Amaro {
  transformSync(code: string, options?: { mode?: "strip-only" | "transform"; sourceMap?: boolean }): { code: string; map?: string };
}

export type StripperName = "node" | "amaro";

export type Stripped =
  | {
      ok: true;
      code: string;
      mode: "strip" | "transform";
      by: StripperName;
      /** Maps a 1-based line and column of `code` to the input; absent when positions are unchanged. */
      position?: (line: number, column: number) => [number, number];
    }
  /** Not TypeScript either (or no stripper): the caller reports JavaScript's own syntax error. */
  | { ok: false; invalid: true }
  /** TypeScript that the available strippers cannot turn into JavaScript (an enum with no transform). */
  | { ok: false; invalid: false; message: string };

export interface StripperState {
  /** Who strips types: Node itself, amaro, or nobody (TypeScript input then gets a hint). */
  strip: StripperName | undefined;
  /** Who transforms enum, namespace and parameter properties, as far as is known without loading anything. */
  transform: StripperName | undefined;
  /** Whether any TypeScript has been stripped in this process yet (the stripper is loaded then). */
  used: boolean;
}

const nodeStrip = (): NodeStrip | undefined => {
  const f = (nodeModule as unknown as { stripTypeScriptTypes?: unknown }).stripTypeScriptTypes;
  return typeof f === "function" ? (f as NodeStrip) : undefined;
};

/** Node's transform mode: unknown until tried, except that Node 25 and later dropped it. */
let nodeTransforms: boolean | undefined;
let amaroPath: string | null | undefined;
let amaro: Amaro | undefined;
let used = false;

function amaroAvailable(): boolean {
  if (amaroPath === undefined) {
    try {
      amaroPath = require.resolve("amaro");
    } catch {
      amaroPath = null;
    }
  }
  return amaroPath !== null;
}

function loadAmaro(): Amaro {
  amaro ??= require("amaro") as Amaro;
  return amaro;
}

function nodeMayTransform(): boolean {
  if (!nodeStrip()) return false;
  return nodeTransforms ?? Number(process.versions.node.split(".")[0]) < 25;
}

export function stripperState(): StripperState {
  const strip: StripperName | undefined = nodeStrip() ? "node" : amaroAvailable() ? "amaro" : undefined;
  const transform: StripperName | undefined = nodeMayTransform() ? "node" : amaroAvailable() ? "amaro" : undefined;
  return { strip, transform, used };
}

/** Describes a stripper for people. */
export function stripperLabel(name: StripperName | undefined): string {
  if (name === "node") return "Node's module.stripTypeScriptTypes";
  if (name === "amaro") return "amaro (optional dependency)";
  return "none";
}

/** Runs Node's stripper with its own ExperimentalWarning dropped; every other warning goes on as usual. */
function quietly<T>(fn: () => T): T {
  const original = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const opt = rest[0];
    const type = typeof opt === "string" ? opt : (opt as { type?: unknown } | undefined)?.type;
    const text = typeof warning === "string" ? warning : String(warning?.message);
    if (type === "ExperimentalWarning" && text.includes("stripTypeScriptTypes")) return;
    return (original as (...args: unknown[]) => void).call(this, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    process.emitWarning = filtered;
  } catch {
    return fn(); // the app froze it: nothing we can do about the warning
  }
  try {
    return fn();
  } finally {
    if (process.emitWarning === filtered) process.emitWarning = original;
  }
}

type Failure = "invalid" | "unsupported" | "refused";

function failureOf(err: unknown): Failure {
  const e = err as { code?: unknown } | null;
  const code = e && typeof e === "object" ? e.code : undefined;
  if (code === "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX" || code === "UnsupportedSyntax") return "unsupported";
  if (code === "ERR_INVALID_ARG_VALUE") return "refused"; // Node 25+: no mode "transform"
  return "invalid";
}

function messageOf(err: unknown): string {
  try {
    return String((err as { message?: unknown }).message ?? err).split("\n")[0];
  } catch {
    return "unsupported TypeScript syntax";
  }
}

/** Strips the types of `code`, or transforms it when it needs more than stripping. */
export function stripTypes(code: string): Stripped {
  const node = nodeStrip();
  if (!node && !amaroAvailable()) return { ok: false, invalid: true };
  used = true;
  let why: string;
  try {
    const out = node ? quietly(() => node(code, { mode: "strip" })) : loadAmaro().transformSync(code, { mode: "strip-only" }).code;
    return { ok: true, code: out, mode: "strip", by: node ? "node" : "amaro" };
  } catch (err) {
    if (failureOf(err) !== "unsupported") return { ok: false, invalid: true };
    why = messageOf(err);
  }
  if (node && nodeMayTransform()) {
    try {
      const out = quietly(() => node(code, { mode: "transform", sourceMap: true }));
      nodeTransforms = true;
      const at = out.lastIndexOf("\n//# sourceMappingURL=data:application/json;base64,");
      if (at < 0) return { ok: true, code: out, mode: "transform", by: "node" };
      const map = Buffer.from(out.slice(out.indexOf(",", at) + 1).trim(), "base64").toString("utf8");
      return { ok: true, code: out.slice(0, at), mode: "transform", by: "node", position: positionsFrom(map) };
    } catch (err) {
      const failure = failureOf(err);
      if (failure === "refused") nodeTransforms = false;
      else if (failure === "invalid") return { ok: false, invalid: true };
      else why = messageOf(err);
    }
  }
  if (amaroAvailable()) {
    try {
      const out = loadAmaro().transformSync(code, { mode: "transform", sourceMap: true });
      return { ok: true, code: out.code, mode: "transform", by: "amaro", position: out.map ? positionsFrom(out.map) : undefined };
    } catch (err) {
      if (failureOf(err) === "invalid") return { ok: false, invalid: true };
      why = messageOf(err);
    }
  }
  return {
    ok: false,
    invalid: false,
    message: `${why} (${stripperLabel(node ? "node" : "amaro")} only strips types here: enum, namespace and parameter properties need a transform, which the optional package amaro provides)`,
  };
}

function positionsFrom(json: string): ((line: number, column: number) => [number, number]) | undefined {
  return parseSourceMap(json)?.position;
}

/** Does an input that is not JavaScript look like TypeScript (for the hint when no stripper is here)? */
export const looksTyped = looksTypeScript;

/**
 * How positions in the code that ran for `input` map back to what was typed, for a stack read
 * later (`.stack`): the rewrite's map, composed with the transform's when the input was
 * TypeScript that needed one.
 */
export function inputPositions(input: string): (line: number, column: number) => [number, number] {
  const js = rewrite(input);
  if (js.syntax !== "error" || !stripperState().strip) return js.position;
  const stripped = stripTypes(input);
  if (!stripped.ok) return js.position;
  const rewritten = rewrite(stripped.code);
  const map = stripped.position;
  return map ? (line, column) => map(...rewritten.position(line, column)) : rewritten.position;
}
