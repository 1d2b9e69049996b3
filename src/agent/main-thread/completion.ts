/**
 * Tab completion for a session: names in scope (the session's, its builtins, the namespace,
 * the app's globals, keywords), properties after a dot, and dot-commands. Only data
 * properties are followed and proxies are not entered, so completing runs no app code.
 */
import { types } from "node:util";
import { isAssigned } from "./scope.js";

export interface CompletionScope {
  own: Record<string, unknown>;
  builtins: Record<string, unknown>;
  namespace: Record<string, unknown>;
}

const KEYWORDS = [
  "async",
  "await",
  "break",
  "case",
  "catch",
  "class",
  "const",
  "continue",
  "debugger",
  "default",
  "delete",
  "do",
  "else",
  "export",
  "extends",
  "false",
  "finally",
  "for",
  "function",
  "if",
  "import",
  "in",
  "instanceof",
  "let",
  "new",
  "null",
  "return",
  "static",
  "super",
  "switch",
  "this",
  "throw",
  "true",
  "try",
  "typeof",
  "undefined",
  "var",
  "void",
  "while",
  "with",
  "yield",
];
const MAX_ITEMS = 500;
const IDENT = /^[A-Za-z_$][\w$]*$/;
const MEMBER = /((?:[A-Za-z_$][\w$]*)(?:\s*\.\s*[A-Za-z_$][\w$]*)*)\s*(\?)?\.\s*([A-Za-z_$][\w$]*)?$/;
const NAME = /([A-Za-z_$][\w$]*)$/;

/** Every property name of `value` and its prototypes, without running getters or proxy traps. */
function propertyNames(value: unknown): string[] {
  const names = new Set<string>();
  let obj: unknown = value;
  if (obj === null || obj === undefined) return [];
  if (typeof obj !== "object" && typeof obj !== "function") obj = Object(obj);
  for (let depth = 0; obj && depth < 20; depth++) {
    if (types.isProxy(obj)) break;
    for (const n of Object.getOwnPropertyNames(obj)) names.add(n);
    obj = Object.getPrototypeOf(obj);
  }
  return [...names];
}

/** A data property's value along the prototype chain; undefined for accessors, proxies and misses. */
function dataProperty(obj: unknown, key: string): { found: boolean; value?: unknown } {
  let o: unknown = obj;
  if (o === null || o === undefined) return { found: false };
  if (typeof o !== "object" && typeof o !== "function") o = Object(o);
  for (let depth = 0; o && depth < 20; depth++) {
    if (types.isProxy(o)) return { found: false };
    const d = Object.getOwnPropertyDescriptor(o, key);
    if (d) return "value" in d ? { found: true, value: d.value } : { found: false };
    o = Object.getPrototypeOf(o);
  }
  return { found: false };
}

/** Node's own getter of globalThis.process, as it was when manhole loaded. */
const processGetter = Object.getOwnPropertyDescriptor(globalThis, "process")?.get;

function lookup(scope: CompletionScope, name: string): { found: boolean; value?: unknown } {
  if (name in scope.own) return isAssigned(scope.own, name) ? { found: true, value: scope.own[name] } : { found: false };
  for (const layer of [scope.builtins, scope.namespace, globalThis]) {
    const r = dataProperty(layer, name);
    if (r.found) return r;
  }
  // Node defines `process` on globalThis with a getter: its value is known without running it.
  if (name === "process" && Object.getOwnPropertyDescriptor(globalThis, name)?.get === processGetter)
    return { found: true, value: process };
  return { found: false };
}

function finish(candidates: Iterable<string>, prefix: string): { items: string[]; prefix: string } {
  const items = [...new Set(candidates)].filter((c) => c.startsWith(prefix) && IDENT.test(c)).sort();
  return { items: items.slice(0, MAX_ITEMS), prefix };
}

export function complete(text: string, scope: CompletionScope, commands: readonly string[]): { items: string[]; prefix: string } {
  const command = /^\s*\.([\w-]*)$/.exec(text);
  if (command) {
    const prefix = `.${command[1]}`;
    return {
      items: commands
        .map((c) => `.${c}`)
        .filter((c) => c.startsWith(prefix))
        .sort(),
      prefix,
    };
  }
  const member = MEMBER.exec(text);
  if (member) {
    const path = member[1].split(".").map((p) => p.trim());
    const prefix = member[3] ?? "";
    let current = lookup(scope, path[0]);
    for (const key of path.slice(1)) {
      if (!current.found) break;
      current = dataProperty(current.value, key);
    }
    if (!current.found) return { items: [], prefix };
    return finish(propertyNames(current.value), prefix);
  }
  const name = NAME.exec(text);
  const prefix = name ? name[1] : "";
  const names = [
    ...Object.keys(scope.own).filter((n) => isAssigned(scope.own, n)),
    ...Object.keys(scope.builtins),
    ...Object.keys(scope.namespace),
    ...propertyNames(globalThis),
    ...KEYWORDS,
  ];
  return finish(names, prefix);
}
