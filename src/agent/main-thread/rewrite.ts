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
 *
 * The scope must not change what JavaScript means: the checks go after a function's directive
 * prologue (so "use strict" stays in force), a call of a bare name is made as `(0, name)(...)`
 * (inside `with`, `name(...)` would pass the scope object as `this`), and the names that sloppy
 * code assigns without declaring are reported so that the scope holds them for the session
 * (strict code's go to JavaScript, which throws).
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
/**
 * What `process.nextTick` is in manhole code: the app's own, with the callback guarded so that a
 * throw is reported to the session. `process` itself is the app's real object.
 */
export const NEXT_TICK_HELPER = "__mh_nextTick";

const LOOPS = new Set(["WhileStatement", "DoWhileStatement", "ForStatement", "ForInStatement", "ForOfStatement"]);

export interface Rewritten {
  code: string;
  /** Maps a 1-based line and column of `code` to the same place in the input (for stack traces). */
  position(line: number, column: number): [number, number];
  /** Names to create on the session scope before running `code`. */
  declared: string[];
  /**
   * Names that sloppy code assigns without declaring them anywhere in the input: the session
   * holds them (unassigned until then) when they exist nowhere else, so they do not become
   * app globals. Strict code's are not among them: its assignment throws, as in JavaScript.
   */
  implicit: string[];
  /**
   * Names bound anew by a top-level let, const, class or function: they stop being constants
   * before `code` runs, so a later declaration replaces a `const` (the latest one decides).
   * `var` is not among them: as in JavaScript, it cannot redeclare a constant.
   */
  rebound: string[];
  /** `code` evaluates to a promise of the input's completion value. */
  awaited: boolean;
  /**
   * Whether the input was parsed: "skipped" by the fast path (it needs no rewriting), "ok", or
   * "error" when it is not JavaScript (`code` is then the input, for V8 to report the error).
   */
  syntax: "skipped" | "ok" | "error";
}

type AnyNode = Node & Record<string, unknown>;
/** Output text built from new strings and slices of the source, so positions can be mapped back. */
type Piece = string | { from: number; to: number } | { text: string; at: number };
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

/** Where code is while visiting: its strictness, the names declared around it, and whether a `with` of the user's holds it. */
interface Context {
  inFunction: boolean;
  strict: boolean;
  inWith: boolean;
  /** Names declared by the enclosing functions and the input, innermost last (block scopes counted as their function's). */
  locals: Set<string>[];
}

function hasUseStrict(statements: AnyNode[]): boolean {
  for (const s of statements) {
    if (typeof s.directive !== "string") return false;
    if (s.directive === "use strict") return true;
  }
  return false;
}

/** The directive prologue's statements ("use strict" and the like) at the start of a body. */
function prologueEnd(statements: AnyNode[]): number | undefined {
  let end: number | undefined;
  for (const s of statements) {
    if (typeof s.directive !== "string") break;
    end = s.end;
  }
  return end;
}

/**
 * Names declared in a function (its parameters, own name and every declaration in its body) or
 * in the input, without entering nested functions: over-approximated, as a block's `let` counts
 * for the whole function.
 */
function declaredIn(node: AnyNode): Set<string> {
  const names = new Set<string>();
  const add = (pattern: AnyNode | null | undefined) => {
    if (!pattern) return;
    const into: string[] = [];
    patternNames(pattern, into);
    for (const n of into) names.add(n);
  };
  if (isFunction(node)) {
    for (const p of node.params as AnyNode[]) add(p);
    if (node.type === "FunctionExpression") add(node.id as AnyNode | null);
    if (node.type !== "ArrowFunctionExpression") names.add("arguments");
  }
  const walk = (n: AnyNode) => {
    switch (n.type) {
      case "VariableDeclaration":
        for (const d of n.declarations as AnyNode[]) add(d.id as AnyNode);
        break;
      case "FunctionDeclaration":
      case "ClassDeclaration":
        add(n.id as AnyNode);
        break;
      case "CatchClause":
        add(n.param as AnyNode | null);
        break;
    }
    if (isFunction(n) || n.type === "ClassExpression" || n.type === "ClassDeclaration") return;
    for (const c of children(n)) walk(c);
  };
  walk(isFunction(node) ? (node.body as AnyNode) : node);
  return names;
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
 * import(), typeof, assignment, call of a bare name or nextTick), so they skip the parse:
 * inputs like `app.orders.length` or `server.address()`.
 */
const NEEDS_REWRITE =
  /\b(?:let|const|var|class|function|await|import|typeof|for|while|do|nextTick)\b|=>|\{|[^=!<>]=(?!=)|\+\+|--|(?<![.\w$])[A-Za-z_$][\w$]*\s*(?:\?\.\s*)?[(`]/;

export function rewrite(code: string): Rewritten {
  const unchanged: Rewritten = {
    code,
    declared: [],
    implicit: [],
    rebound: [],
    awaited: false,
    position: (line, column) => [line, column],
    syntax: "skipped",
  };
  if (!NEEDS_REWRITE.test(code)) return unchanged;
  let parsed: { ast: AnyNode; source: string };
  try {
    parsed = parseInput(code);
  } catch {
    // Let V8 report the syntax error in its own words.
    return { ...unchanged, syntax: "error" };
  }
  const { ast, source } = parsed;
  const edits: Edit[] = [];
  const declared: string[] = [];
  const rebound: string[] = [];
  const hoisted: Rope[] = [];
  const implicit: string[] = [];
  let awaited = false;
  // A node's source with the edits already made inside it.
  const text = (n: AnyNode) => applyEdits(edits, n.start, n.end);

  const assignments = (decl: AnyNode, keepEmpty: boolean, ctx: Context): Rope => {
    for (const d of decl.declarations as AnyNode[]) if (d.init) visit(d.init as AnyNode, d, ctx);
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
  /** A `var` statement as an assignment; without initialisers an empty statement, which keeps the input's completion value. */
  const asStatement = (r: Rope): Rope => (r.length ? ["void (", ...r, ");"] : [";"]);
  const isLocal = (name: string, ctx: Context) => ctx.locals.some((l) => l.has(name));
  /** Sloppy code assigning names it does not declare: the session will hold them. */
  const assigns = (target: AnyNode | null | undefined, ctx: Context) => {
    if (!target || ctx.strict || target.type === "VariableDeclaration") return;
    const names: string[] = [];
    patternNames(target, names);
    for (const n of names) if (!isLocal(n, ctx)) implicit.push(n);
  };

  // var anywhere outside functions; await and import() anywhere that matters.
  function visit(node: AnyNode, parent: AnyNode | null, ctx: Context): void {
    if (node.type === "ImportExpression") edits.push({ start: node.start, end: node.start + "import".length, text: [IMPORT_HELPER] });
    if (LOOPS.has(node.type) || isFunction(node)) insertTick(node.body as AnyNode, edits);
    // A name the session holds but sloppy code has not assigned yet reads as not defined, so `typeof` would throw.
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
    if (node.type === "AssignmentExpression") assigns(node.left as AnyNode, ctx);
    else if (node.type === "UpdateExpression") assigns(node.argument as AnyNode, ctx);
    else if (node.type === "ForInStatement" || node.type === "ForOfStatement") assigns(node.left as AnyNode, ctx);
    if (!ctx.inWith) {
      if ((node.type === "CallExpression" || node.type === "TaggedTemplateExpression") && !(node.optional === true)) {
        const callee = (node.type === "CallExpression" ? node.callee : node.tag) as AnyNode;
        // In `with (scope)`, `f()` would call f with the scope as `this`; `(0, f)()` calls it as a
        // script does. `eval(...)` stays a direct eval.
        if (callee.type === "Identifier" && callee.name !== "eval") {
          const name: Piece = { from: callee.start, to: callee.end };
          if (node.type === "CallExpression" && source[callee.end] === "(") {
            // V8 places such a call at its `(`; placed at the name, the call's frame reads as typed.
            edits.push({ start: callee.start, end: callee.end + 1, text: ["(0, ", name, ")", { text: "(", at: callee.start }] });
          } else {
            edits.push({ start: callee.start, end: callee.end, text: ["(0, ", name, ")"] });
          }
        }
      }
      if (node.type === "ChainExpression") {
        // `f?.()`: the same, for an optional call of a bare name.
        const call = node.expression as AnyNode;
        const callee = call.callee as AnyNode | undefined;
        if (call.type === "CallExpression" && callee?.type === "Identifier" && callee.name !== "eval") {
          edits.push({ start: callee.start, end: callee.end, text: ["(0, ", { from: callee.start, to: callee.end }, ")"] });
        }
      }
      if (isNextTick(node, parent) && !isLocal("process", ctx)) edits.push({ start: node.start, end: node.end, text: [NEXT_TICK_HELPER] });
    }
    if (!ctx.inFunction) {
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
          edits.push({ start: node.start, end: node.end, text: assignments(node, false, ctx) });
        } else {
          edits.push({ start: node.start, end: node.end, text: asStatement(assignments(node, false, ctx)) });
        }
        return;
      }
    }
    let inner = ctx;
    if (isFunction(node)) {
      const fnBody = node.body as AnyNode;
      inner = {
        inFunction: true,
        strict: ctx.strict || (fnBody.type === "BlockStatement" && hasUseStrict(fnBody.body as AnyNode[])),
        inWith: ctx.inWith,
        locals: [...ctx.locals, declaredIn(node)],
      };
    } else if (node.type === "ClassDeclaration" || node.type === "ClassExpression") {
      inner = { ...ctx, strict: true };
    }
    for (const child of children(node)) {
      const inUsersWith = node.type === "WithStatement" && child === node.body;
      visit(child, node, inUsersWith ? { ...inner, inWith: true } : inner);
    }
  }

  const body = ast.body as AnyNode[];
  const top: Context = { inFunction: false, strict: hasUseStrict(body), inWith: false, locals: [declaredIn(ast)] };
  for (const stmt of body) {
    if (stmt.type === "VariableDeclaration") {
      const kind = stmt.kind as string;
      const list = assignments(stmt, kind !== "var", top);
      if (kind !== "var") {
        const names: string[] = [];
        for (const d of stmt.declarations as AnyNode[]) patternNames(d.id as AnyNode, names);
        rebound.push(...names);
        if (kind === "const") list.push(`, ${CONST_HELPER}(${names.map((n) => JSON.stringify(n)).join(", ")})`);
      }
      edits.push({ start: stmt.start, end: stmt.end, text: asStatement(list) });
    } else if (stmt.type === "FunctionDeclaration") {
      const name = (stmt.id as AnyNode).name as string;
      declared.push(name);
      rebound.push(name);
      visit(stmt, ast, top);
      hoisted.push([`void (${name} = (`, ...text(stmt), "));\n"]);
      edits.push({ start: stmt.start, end: stmt.end, text: [] });
    } else if (stmt.type === "ClassDeclaration") {
      const name = (stmt.id as AnyNode).name as string;
      declared.push(name);
      rebound.push(name);
      visit(stmt, ast, top);
      edits.push({ start: stmt.start, end: stmt.end, text: [`void (${name} = (`, ...text(stmt), "));"] });
    } else {
      visit(stmt, ast, top);
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
  // Hoisted functions go after the input's directive prologue, which must stay first to count.
  const prologue = prologueEnd(body);
  let out: Rope =
    prologue === undefined
      ? [...hoisted.flat(), ...applyEdits(edits, 0, source.length)]
      : [{ from: 0, to: prologue }, ";", ...hoisted.flat(), ...applyEdits(edits, prologue, source.length)];
  if (awaited) out = ["(async () => {\n", ...out, "\n})()"];
  const rendered = render(out, source);
  // The object-literal form starts with "(": source offsets are one past the input's.
  const shift = source === code ? 0 : 1;
  const position = (line: number, column: number): [number, number] => {
    const at = rendered.toSource(offsetOf(rendered.code, line, column));
    return lineColumnOf(code, Math.max(0, at - shift));
  };
  return {
    code: rendered.code,
    declared: [...new Set(declared)],
    implicit: [...new Set(implicit)],
    rebound: [...new Set(rebound)],
    awaited,
    position,
    syntax: "ok",
  };
}

/** Whether `code` is JavaScript as it is (what the fast path of `rewrite` does not find out). */
export function parsesAsJavaScript(code: string): boolean {
  try {
    parseInput(code);
    return true;
  } catch {
    return false;
  }
}

/** Joins a rope into code, remembering where each copied slice of the source landed. */
function render(rope: Rope, source: string): { code: string; toSource(offset: number): number } {
  let code = "";
  const spans: { out: number; from: number; len: number }[] = [];
  for (const piece of rope) {
    if (typeof piece === "string") code += piece;
    else if ("at" in piece) {
      // New text that stands for one place of the source.
      spans.push({ out: code.length, from: piece.at, len: 0 });
      code += piece.text;
    } else {
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

/** `process.nextTick` (or `process["nextTick"]`) read, not assigned or deleted. */
function isNextTick(node: AnyNode, parent: AnyNode | null): boolean {
  if (node.type !== "MemberExpression") return false;
  const object = node.object as AnyNode;
  const property = node.property as AnyNode;
  if (object.type !== "Identifier" || object.name !== "process") return false;
  const named = node.computed ? property.type === "Literal" && property.value === "nextTick" : property.name === "nextTick";
  if (!named || !parent) return named;
  if (parent.type === "AssignmentExpression" && parent.left === node) return false;
  if (parent.type === "UpdateExpression") return false;
  if (parent.type === "UnaryExpression" && parent.operator === "delete") return false;
  if ((parent.type === "ForInStatement" || parent.type === "ForOfStatement") && parent.left === node) return false;
  return true;
}

/** Puts a tick call first in a loop or function body, making a statement body a block. */
function insertTick(body: AnyNode, edits: Edit[]): void {
  const call = `${TICK_HELPER}();`;
  if (body.type === "BlockStatement") {
    // After a function's directive prologue: before it, "use strict" would be an ordinary string.
    const prologue = prologueEnd(body.body as AnyNode[]);
    if (prologue !== undefined) edits.push({ start: prologue, end: prologue, text: [`;${call}`] });
    else edits.push({ start: body.start + 1, end: body.start + 1, text: [call] });
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
