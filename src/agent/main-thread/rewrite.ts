/**
 * Turns one REPL input into code that keeps its declarations in the session scope.
 *
 * Input is evaluated by a direct `eval` inside `with (scope)`. There, `let`, `const`, `class`
 * and `function` would die with the eval, and `var` would land in the runner function. So
 * top-level declarations become assignments to names the evaluator pre-declares on the scope,
 * function declarations are hoisted as assignments, top-level `await` wraps the input in an
 * async function that returns its last expression, and `import()` goes through a helper so
 * that it works inside vm-compiled code (Node refuses a dynamic import there otherwise).
 * A top-level `const` marks its names constant once they are initialised.
 */
import type { Node } from "acorn";
import { acornParser } from "../../shared/parser.js";

/** Names the runner binds as parameters; the scope proxy must never capture them. */
export const IMPORT_HELPER = "__mh_import";
/**
 * Called at the top of every loop body and function body of manhole code: throws once the
 * worker asks for an interrupt, so runaway loops (microtask loops included) stop by themselves.
 */
export const TICK_HELPER = "__mh_tick";
/** Called with a top-level `const`'s names right after its initialisation: later assignments throw. */
export const CONST_HELPER = "__mh_const";

const LOOPS = new Set(["WhileStatement", "DoWhileStatement", "ForStatement", "ForInStatement", "ForOfStatement"]);

export interface Rewritten {
  code: string;
  /** Maps a 1-based line and column of `code` to the same place in the input (for stack traces). */
  position(line: number, column: number): [number, number];
  /** Names to create on the session scope before running `code`. */
  declared: string[];
  /**
   * Names bound anew by a top-level let, const, class or function: they stop being constants
   * before `code` runs, so a later declaration replaces a `const` (the latest one decides).
   * `var` is not among them: as in JavaScript, it cannot redeclare a constant.
   */
  rebound: string[];
  /** `code` evaluates to a promise of the input's completion value. */
  awaited: boolean;
}

type AnyNode = Node & Record<string, unknown>;
/** Output text built from new strings and slices of the source, so positions can be mapped back. */
type Piece = string | { from: number; to: number };
type Rope = Piece[];
interface Edit {
  start: number;
  end: number;
  text: Rope;
}

const PARSE_OPTIONS = {
  ecmaVersion: "latest",
  sourceType: "script",
  allowAwaitOutsideFunction: true,
  allowHashBang: false,
  locations: false,
} as const;

function isFunction(node: AnyNode): boolean {
  return node.type === "FunctionDeclaration" || node.type === "FunctionExpression" || node.type === "ArrowFunctionExpression";
}

function children(node: AnyNode): AnyNode[] {
  const out: AnyNode[] = [];
  for (const key of Object.keys(node)) {
    if (key === "type" || key === "start" || key === "end") continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (const v of value) if (v && typeof v === "object" && typeof (v as AnyNode).type === "string") out.push(v as AnyNode);
    } else if (value && typeof value === "object" && typeof (value as AnyNode).type === "string") {
      out.push(value as AnyNode);
    }
  }
  return out;
}

function patternNames(pattern: AnyNode, into: string[]): void {
  switch (pattern.type) {
    case "Identifier":
      into.push(pattern.name as string);
      break;
    case "ObjectPattern":
      for (const p of pattern.properties as AnyNode[]) patternNames((p.type === "RestElement" ? p.argument : p.value) as AnyNode, into);
      break;
    case "ArrayPattern":
      for (const e of pattern.elements as (AnyNode | null)[]) if (e) patternNames(e, into);
      break;
    case "RestElement":
      patternNames(pattern.argument as AnyNode, into);
      break;
    case "AssignmentPattern":
      patternNames(pattern.left as AnyNode, into);
      break;
  }
}

/** Parses `code`, or its parenthesised form when it looks like an object literal (as Node's REPL does). */
function parseInput(code: string): { ast: AnyNode; source: string } {
  if (/^\s*\{/.test(code) && !/;\s*$/.test(code)) {
    const wrapped = `(${code}\n)`;
    try {
      return { ast: acornParser().parse(wrapped, PARSE_OPTIONS) as unknown as AnyNode, source: wrapped };
    } catch {
      // not an object literal: a block
    }
  }
  return { ast: acornParser().parse(code, PARSE_OPTIONS) as unknown as AnyNode, source: code };
}

/**
 * Inputs without any of these need no rewriting (no declaration, loop, function, await,
 * import() or typeof), so they skip the parse: most inputs, like `app.orders.length`.
 */
const NEEDS_REWRITE = /\b(?:let|const|var|class|function|await|import|typeof|for|while|do)\b|=>|\{/;

export function rewrite(code: string): Rewritten {
  const unchanged: Rewritten = { code, declared: [], rebound: [], awaited: false, position: (line, column) => [line, column] };
  if (!NEEDS_REWRITE.test(code)) return unchanged;
  let parsed: { ast: AnyNode; source: string };
  try {
    parsed = parseInput(code);
  } catch {
    // Let V8 report the syntax error in its own words.
    return unchanged;
  }
  const { ast, source } = parsed;
  const edits: Edit[] = [];
  const declared: string[] = [];
  const rebound: string[] = [];
  const hoisted: Rope[] = [];
  let awaited = false;
  // A node's source with the edits already made inside it.
  const text = (n: AnyNode) => applyEdits(edits, n.start, n.end);

  const assignments = (decl: AnyNode, keepEmpty: boolean, inFunction: boolean): Rope => {
    for (const d of decl.declarations as AnyNode[]) if (d.init) visit(d.init as AnyNode, d, inFunction);
    const parts: Rope[] = [];
    for (const d of decl.declarations as AnyNode[]) {
      const id = d.id as AnyNode;
      patternNames(id, declared);
      if (d.init) {
        const init = d.init as AnyNode;
        parts.push(id.type === "Identifier" ? [...text(id), " = ", ...text(init)] : ["(", ...text(id), " = ", ...text(init), ")"]);
      } else if (keepEmpty) parts.push([...text(id), " = undefined"]);
    }
    return parts.flatMap((p, i) => (i === 0 ? p : [", ", ...p]));
  };
  const orZero = (r: Rope): Rope => (r.length ? r : ["0"]);

  // var anywhere outside functions; await and import() anywhere that matters.
  function visit(node: AnyNode, parent: AnyNode | null, inFunction: boolean): void {
    if (node.type === "ImportExpression") edits.push({ start: node.start, end: node.start + "import".length, text: [IMPORT_HELPER] });
    if (LOOPS.has(node.type) || isFunction(node)) insertTick(node.body as AnyNode, edits);
    // The scope claims every unknown name (so bare assignments stay in the session), so `typeof nope` would throw.
    if (node.type === "UnaryExpression" && node.operator === "typeof" && (node.argument as AnyNode).type === "Identifier") {
      edits.push({
        start: node.start,
        end: node.end,
        text: [
          "(() => { try { return ",
          ...text(node),
          ' } catch (e) { if (e instanceof ReferenceError) return "undefined"; throw e } })()',
        ],
      });
    }
    if (!inFunction) {
      if (node.type === "AwaitExpression" || (node.type === "ForOfStatement" && node.await === true)) awaited = true;
      if (node.type === "VariableDeclaration" && node.kind === "var" && parent?.type !== "Program") {
        const inForHead =
          parent &&
          ((parent.type === "ForStatement" && parent.init === node) ||
            ((parent.type === "ForInStatement" || parent.type === "ForOfStatement") && parent.left === node));
        if (inForHead && parent.type !== "ForStatement") {
          const id = (node.declarations as AnyNode[])[0].id as AnyNode;
          patternNames(id, declared);
          edits.push({ start: node.start, end: node.end, text: text(id) });
        } else if (inForHead) {
          edits.push({ start: node.start, end: node.end, text: assignments(node, false, inFunction) });
        } else {
          edits.push({ start: node.start, end: node.end, text: ["void (", ...orZero(assignments(node, false, inFunction)), ");"] });
        }
        return;
      }
    }
    const nowInFunction = inFunction || isFunction(node);
    for (const child of children(node)) visit(child, node, nowInFunction);
  }

  const body = ast.body as AnyNode[];
  for (const stmt of body) {
    if (stmt.type === "VariableDeclaration") {
      const kind = stmt.kind as string;
      const list = assignments(stmt, kind !== "var", false);
      if (kind !== "var") {
        const names: string[] = [];
        for (const d of stmt.declarations as AnyNode[]) patternNames(d.id as AnyNode, names);
        rebound.push(...names);
        if (kind === "const") list.push(`, ${CONST_HELPER}(${names.map((n) => JSON.stringify(n)).join(", ")})`);
      }
      edits.push({ start: stmt.start, end: stmt.end, text: ["void (", ...orZero(list), ");"] });
    } else if (stmt.type === "FunctionDeclaration") {
      const name = (stmt.id as AnyNode).name as string;
      declared.push(name);
      rebound.push(name);
      visit(stmt, ast, false);
      hoisted.push([`void (${name} = (`, ...text(stmt), "));\n"]);
      edits.push({ start: stmt.start, end: stmt.end, text: [] });
    } else if (stmt.type === "ClassDeclaration") {
      const name = (stmt.id as AnyNode).name as string;
      declared.push(name);
      rebound.push(name);
      visit(stmt, ast, false);
      edits.push({ start: stmt.start, end: stmt.end, text: [`void (${name} = (`, ...text(stmt), "));"] });
    } else {
      visit(stmt, ast, false);
    }
  }

  if (awaited) {
    const last = body[body.length - 1];
    if (last && last.type === "ExpressionStatement") {
      const expr = last.expression as AnyNode;
      edits.push({ start: expr.start, end: expr.start, text: ["return ("] });
      edits.push({ start: expr.end, end: expr.end, text: [")"] });
    }
  }
  let out: Rope = [...hoisted.flat(), ...applyEdits(edits, 0, source.length)];
  if (awaited) out = ["(async () => {\n", ...out, "\n})()"];
  const rendered = render(out, source);
  // The object-literal form starts with "(": source offsets are one past the input's.
  const shift = source === code ? 0 : 1;
  const position = (line: number, column: number): [number, number] => {
    const at = rendered.toSource(offsetOf(rendered.code, line, column));
    return lineColumnOf(code, Math.max(0, at - shift));
  };
  return { code: rendered.code, declared: [...new Set(declared)], rebound: [...new Set(rebound)], awaited, position };
}

/** Joins a rope into code, remembering where each copied slice of the source landed. */
function render(rope: Rope, source: string): { code: string; toSource(offset: number): number } {
  let code = "";
  const spans: { out: number; from: number; len: number }[] = [];
  for (const piece of rope) {
    if (typeof piece === "string") code += piece;
    else {
      spans.push({ out: code.length, from: piece.from, len: piece.to - piece.from });
      code += source.slice(piece.from, piece.to);
    }
  }
  return {
    code,
    toSource(offset) {
      // The last copied slice starting at or before `offset`; inside new text, its end.
      let best: (typeof spans)[number] | undefined;
      for (const s of spans) if (s.out <= offset) best = s;
      if (!best) return 0;
      return best.from + Math.min(offset - best.out, best.len);
    },
  };
}

function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", offset);
    if (nl < 0) break;
    offset = nl + 1;
  }
  return offset + column - 1;
}

function lineColumnOf(text: string, offset: number): [number, number] {
  let line = 1;
  let start = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return [line, offset - start + 1];
}

/** Puts a tick call first in a loop or function body, making a statement body a block. */
function insertTick(body: AnyNode, edits: Edit[]): void {
  const call = `${TICK_HELPER}();`;
  if (body.type === "BlockStatement") {
    edits.push({ start: body.start + 1, end: body.start + 1, text: [call] });
  } else if (body.type.endsWith("Statement") || body.type.endsWith("Declaration")) {
    edits.push({ start: body.start, end: body.start, text: [`{${call}`] });
    edits.push({ start: body.end, end: body.end, text: ["}"] });
  } else {
    // an arrow function's expression body
    edits.push({ start: body.start, end: body.start, text: [`(${TICK_HELPER}(), `] });
    edits.push({ start: body.end, end: body.end, text: [")"] });
  }
}

/** Applies the edits that fall within [from, to) and returns that slice as a rope. */
function applyEdits(edits: Edit[], from: number, to: number): Rope {
  // By start; at one start, insertions first, then the widest edit (which hides those nested in it).
  const sorted = edits
    .filter((e) => e.start >= from && e.end <= to)
    .sort((a, b) => a.start - b.start || Number(b.start === b.end) - Number(a.start === a.end) || b.end - a.end);
  const out: Rope = [];
  let pos = from;
  for (const e of sorted) {
    if (e.start < pos) continue; // nested inside an edit already applied
    if (e.start > pos) out.push({ from: pos, to: e.start });
    out.push(...e.text);
    pos = e.end;
  }
  if (to > pos) out.push({ from: pos, to });
  return out;
}
