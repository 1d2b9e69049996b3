/**
 * An operation's arguments from the text after its name (`.loop 5s`, `.handles --all`,
 * `.requests slow=2s`), checked against its declaration. Pure: no I/O.
 */
import type { ArgSpec, ArgValues } from "./types.js";

export class ArgError extends Error {
  override name = "ArgError";
}

/** `250ms`, `5s`, `2m`, `1h`, or a plain number of milliseconds (of `bare` units). */
export function parseDurationMs(text: string, bare: "ms" | "s" = "ms"): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? bare;
  return Math.round(n * (unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000));
}

function convert(spec: ArgSpec, word: string): string | number | boolean {
  switch (spec.type) {
    case "string": {
      if (!spec.choices) return word;
      const choice = spec.choices.find((c) => c.toLowerCase() === word.toLowerCase());
      if (choice === undefined) throw new ArgError(`${spec.name} must be ${spec.choices.join(" or ")}, not "${word}"`);
      return choice;
    }
    case "number": {
      const n = Number(word);
      if (word.trim() === "" || !Number.isFinite(n)) throw new ArgError(`${spec.name} must be a number, not "${word}"`);
      return n;
    }
    case "boolean":
      if (/^(true|yes|on|1)$/i.test(word)) return true;
      if (/^(false|no|off|0)$/i.test(word)) return false;
      throw new ArgError(`${spec.name} must be true or false, not "${word}"`);
    case "duration": {
      const ms = parseDurationMs(word, spec.unit);
      if (ms === undefined) throw new ArgError(`${spec.name} must be a duration such as 500ms, 5s or 2m, not "${word}"`);
      return ms;
    }
  }
}

/**
 * Words in declaration order, or `name=value` in any order, or as options: `--name value`,
 * `--name=value`, and for a boolean `--name` (true) and `--no-name` (false). The last declared
 * argument takes the rest of the line when it is a string. Missing ones get their defaults.
 */
export function parseArgs(specs: readonly ArgSpec[], text: string): ArgValues {
  const values: ArgValues = {};
  const words = text.trim() === "" ? [] : text.trim().split(/\s+/);
  let next = 0;
  for (let i = 0; i < words.length; i++) {
    const option = /^--(no-)?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(words[i]);
    if (option) {
      const [, no, name, inline] = option;
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw new ArgError(`unknown option --${name}`);
      if (spec.type === "boolean" && inline === undefined) {
        values[name] = !no;
      } else if (no) {
        throw new ArgError(`--no-${name}: ${name} is not a boolean`);
      } else {
        const word = inline ?? words[++i];
        if (word === undefined) throw new ArgError(`option --${name} needs a value`);
        values[name] = convert(spec, word);
      }
      continue;
    }
    const named = /^([A-Za-z][\w-]*)=(.*)$/.exec(words[i]);
    // A positional word takes the next argument not already given by name.
    while (!named && next < specs.length && values[specs[next].name] !== undefined) next++;
    const spec = named ? specs.find((s) => s.name === named[1]) : specs[next];
    if (!spec) throw new ArgError(named ? `unknown argument "${named[1]}"` : `too many arguments (takes ${specs.length})`);
    if (!named) next++;
    const last = !named && spec === specs[specs.length - 1] && spec.type === "string";
    const word = named ? named[2] : last ? words.slice(i).join(" ") : words[i];
    values[spec.name] = convert(spec, word);
    if (last) break;
  }
  for (const spec of specs) {
    if (values[spec.name] !== undefined) continue;
    if (spec.default === undefined) throw new ArgError(`missing argument <${spec.name}>`);
    values[spec.name] = spec.default;
  }
  return values;
}

/** Arguments given as a JSON object (structured requests), checked the same way. */
export function argsFromObject(specs: readonly ArgSpec[], given: Record<string, unknown>): ArgValues {
  const values: ArgValues = {};
  for (const key of Object.keys(given)) {
    if (!specs.some((s) => s.name === key)) throw new ArgError(`unknown argument "${key}"`);
  }
  for (const spec of specs) {
    const v = given[spec.name];
    if (v === undefined) {
      if (spec.default === undefined) throw new ArgError(`missing argument "${spec.name}"`);
      values[spec.name] = spec.default;
    } else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
      values[spec.name] = typeof v === "string" && (spec.type !== "string" || spec.choices) ? convert(spec, v) : v;
    } else {
      throw new ArgError(`${spec.name} must be a ${spec.type}`);
    }
  }
  return values;
}
