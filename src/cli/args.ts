/** A small argument parser: `--name value`, `--name=value`, boolean flags, positionals. */

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string>;
  flags: Set<string>;
}

export class UsageError extends Error {
  override name = "UsageError";
}

/** `valued` lists the options that take a value; any other `--x` is a boolean flag. */
export function parseArgs(argv: readonly string[], valued: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { positionals: [], options: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      out.flags.add("help");
      continue;
    }
    if (arg === "-v" || arg === "-V") {
      out.flags.add("version");
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      out.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (valued.includes(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`option --${name} needs a value`);
      out.options[name] = value;
    } else if (eq >= 0) {
      throw new UsageError(`option --${name} takes no value`);
    } else {
      out.flags.add(name);
    }
  }
  return out;
}
