/**
 * A session's scope: the object behind `with (scope)` in the runner.
 *
 * Lookup order: the session's own names, then its builtins (console, require, timers that
 * report throws to the session), then the namespace, then the app's globals. The scope holds
 * only names it has: every other name resolves as in a script of the app (the app's globals,
 * or JavaScript's own ReferenceError). So that a bare assignment in sloppy code stays in the
 * session instead of becoming an app global, the names such code assigns without declaring are
 * held as unassigned session names before the input runs (reading one throws until then); an
 * assignment to an existing global or namespace name changes it, as the operator meant.
 * Names of a top-level `const` are constants: assigning to them throws, as in JavaScript.
 */
import { CONST_HELPER, IMPORT_HELPER, NEXT_TICK_HELPER, type Rewritten, TICK_HELPER } from "./rewrite.js";

/** Parameters of the runner function; the proxy must let them through to it. */
const RUNNER_NAMES = new Set(["__mh_scope", "__mh_code", IMPORT_HELPER, TICK_HELPER, CONST_HELPER, NEXT_TICK_HELPER]);
/** The value of a name the session holds for sloppy code that has not assigned it yet. */
const UNASSIGNED: unique symbol = Symbol("unassigned");

/** A session name that holds a value (not one held for an assignment still to come). */
export function isAssigned(own: Record<string, unknown>, name: string): boolean {
  return name in own && own[name] !== UNASSIGNED;
}
const hasOwn = Object.prototype.hasOwnProperty;

export interface ScopeLayers {
  own: Record<string, unknown>;
  /** Names of `own` that are constants; shared by the sessions that share `own`. */
  constants: ReadonlySet<string>;
  builtins: Record<string, unknown>;
  namespace: Record<string, unknown>;
}

function notDefined(name: string, trap: (...args: never[]) => unknown): ReferenceError {
  const err = new ReferenceError(`${name} is not defined`);
  Error.captureStackTrace(err, trap);
  return err;
}

function constantAssigned(trap: (...args: never[]) => unknown): TypeError {
  const err = new TypeError("Assignment to constant variable.");
  Error.captureStackTrace(err, trap);
  return err;
}

export function createScope({ own, constants, builtins, namespace }: ScopeLayers): object {
  const handler: ProxyHandler<Record<string, unknown>> = {
    has(_t, key) {
      if (typeof key === "symbol") return false;
      if (RUNNER_NAMES.has(key)) return false;
      // The runner's own `arguments` is none of the input's business.
      if (key === "arguments") return true;
      return key in own || hasOwn.call(builtins, key) || hasOwn.call(namespace, key);
    },
    get(_t, key) {
      if (typeof key === "symbol") return undefined; // Symbol.unscopables: nothing is unscopable
      if (key in own) {
        const value = own[key];
        if (value === UNASSIGNED) throw notDefined(key, handler.get as never);
        return value;
      }
      if (hasOwn.call(builtins, key)) return builtins[key];
      if (hasOwn.call(namespace, key)) return namespace[key];
      if (key in globalThis) return (globalThis as Record<string, unknown>)[key];
      throw notDefined(key, handler.get as never);
    },
    set(_t, key, value) {
      if (typeof key === "symbol") return false;
      if (constants.has(key)) throw constantAssigned(handler.set as never);
      if (key in own) own[key] = value;
      else if (hasOwn.call(namespace, key)) namespace[key] = value;
      else if (!hasOwn.call(builtins, key) && key in globalThis) (globalThis as Record<string, unknown>)[key] = value;
      else own[key] = value;
      return true;
    },
    deleteProperty(_t, key) {
      // As in JavaScript, a declared constant cannot be deleted: `delete c` is false.
      if (typeof key === "string" && constants.has(key)) return false;
      return Reflect.deleteProperty(own, key);
    },
  };
  return new Proxy(own, handler);
}

const PATH = /^\s*[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*\s*$/;

/**
 * The value of a plain property path (`app.jobs.queue`) read as the session's code would read
 * it, without running any code of the session: so an operation that only names an object (a
 * `.watch` target) does not turn containment on (on Node 20 and 22 that costs the app V8's
 * promise fast paths for good). Undefined when the text is anything else, or its first name is
 * not one the layers or the app's globals hold (a global `let` of the app's script, a name still
 * unassigned): the caller then evaluates it. Getters on the path run, as they would in code.
 */
export function readPath(code: string, { own, builtins, namespace }: Omit<ScopeLayers, "constants">): { value: unknown } | undefined {
  if (!PATH.test(code)) return undefined;
  const [first, ...rest] = code.split(".").map((part) => part.trim());
  if (first === undefined || first === "arguments") return undefined;
  let value: unknown;
  if (first in own) {
    if (!isAssigned(own, first)) return undefined;
    value = own[first];
  } else if (hasOwn.call(builtins, first)) value = builtins[first];
  else if (hasOwn.call(namespace, first)) value = namespace[first];
  else if (first in globalThis) value = (globalThis as Record<string, unknown>)[first];
  else return undefined;
  for (const key of rest) {
    // Reading a property of null or undefined throws in code: let the evaluation say so, in its words.
    if (value === null || value === undefined) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return { value };
}

/**
 * Makes an input's declared names own names of the session (undefined until assigned), so
 * declarations land there, and holds the names its sloppy code assigns undeclared (see above). A name declared anew stops being a constant: redeclaring is a REPL
 * convenience, and a new `const` marks it again once initialised.
 */
export function declare(
  { own, builtins, namespace }: Omit<ScopeLayers, "constants">,
  constants: Set<string>,
  { declared, implicit, rebound }: Pick<Rewritten, "declared" | "implicit" | "rebound">,
): void {
  for (const name of declared) if (!isAssigned(own, name)) own[name] = undefined;
  for (const name of implicit) {
    const elsewhere = name in own || hasOwn.call(builtins, name) || hasOwn.call(namespace, name) || name in globalThis;
    if (!elsewhere) own[name] = UNASSIGNED;
  }
  for (const name of rebound) constants.delete(name);
}

/** The runner's CONST_HELPER: a top-level `const` calls it with its names once they hold their values. */
export function constantMarker(constants: Set<string>): (...names: string[]) => void {
  return (...names) => {
    for (const name of names) constants.add(name);
  };
}
