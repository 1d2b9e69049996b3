/**
 * startManhole()'s options from environment variables, for `--import manhole/auto` and
 * `--require manhole/auto`: one row per option that can be written as text. A bad value is
 * skipped with a note naming the variable (the option keeps its default): the app must start.
 */
import { type ManholeOptions, resolveOptions } from "./options.js";

type Kind = "string" | "boolean" | "positiveInt" | "count" | "signal" | "port";

interface EnvOption {
  env: string;
  option: keyof ManholeOptions | "tcp.port" | "tcp.host" | "tcp.token";
  kind: Kind;
  help: string;
}

/** The table README's "Environment variables" section shows (a unit test checks they agree). */
export const ENV_OPTIONS: readonly EnvOption[] = [
  { env: "MANHOLE_PATH", option: "path", kind: "string", help: "socket path (default `<runtime dir>/<pid>.sock`)" },
  { env: "MANHOLE_THREADED", option: "threaded", kind: "boolean", help: "serve from a worker thread (default 1)" },
  { env: "MANHOLE_TIMEOUT", option: "timeout", kind: "positiveInt", help: "milliseconds an evaluation may run (default 5000)" },
  { env: "MANHOLE_ACTIVATE_ON", option: "activateOn", kind: "signal", help: "listen only once this signal arrives (e.g. SIGUSR2)" },
  { env: "MANHOLE_SHARED", option: "shared", kind: "boolean", help: "one scope for all sessions (default 0)" },
  { env: "MANHOLE_AUDIT", option: "audit", kind: "string", help: "audit log file (JSON lines, 0600)" },
  { env: "MANHOLE_OBSERVE_ONLY", option: "observeOnly", kind: "boolean", help: "refuse evaluation; diagnostics only (default 0)" },
  { env: "MANHOLE_BANNER", option: "banner", kind: "string", help: "text shown on connect; empty for none" },
  { env: "MANHOLE_PROMPT", option: "prompt", kind: "string", help: "prompt (default `>>> `)" },
  {
    env: "MANHOLE_CONTINUATION_PROMPT",
    option: "continuationPrompt",
    kind: "string",
    help: "prompt of an unfinished input (default `... `)",
  },
  { env: "MANHOLE_MAX_LINE_BYTES", option: "maxLineBytes", kind: "positiveInt", help: "longest input line (default 1048576)" },
  { env: "MANHOLE_MAX_CONNECTIONS", option: "maxConnections", kind: "positiveInt", help: "most sessions at once (default 32)" },
  {
    env: "MANHOLE_MAX_OUTPUT_BYTES",
    option: "maxOutputBytes",
    kind: "positiveInt",
    help: "most output of one evaluation (default 1048576)",
  },
  {
    env: "MANHOLE_IDLE_TIMEOUT",
    option: "idleTimeout",
    kind: "count",
    help: "ms an idle session may stay open (default 30 min; 0: forever)",
  },
  { env: "MANHOLE_ONESHOT", option: "oneshot", kind: "boolean", help: "serve one connection, then close (default 0)" },
  { env: "MANHOLE_TCP_PORT", option: "tcp.port", kind: "port", help: "also listen on this loopback TCP port (0: any)" },
  { env: "MANHOLE_TCP_HOST", option: "tcp.host", kind: "string", help: "the TCP listener's loopback address (default 127.0.0.1)" },
  { env: "MANHOLE_TCP_TOKEN", option: "tcp.token", kind: "string", help: "the TCP token (default: generated, written 0600)" },
];

const TRUE = /^(1|true|yes|on)$/i;
const FALSE = /^(0|false|no|off)$/i;

function convert(kind: Kind, text: string): { value: unknown } | { problem: string } {
  switch (kind) {
    case "string":
      return { value: text };
    case "boolean":
      if (TRUE.test(text)) return { value: true };
      if (FALSE.test(text)) return { value: false };
      return { problem: "must be 1 or 0 (true/false, yes/no, on/off)" };
    case "positiveInt":
    case "count":
    case "port": {
      const n = Number(text);
      const ok = /^\d+$/.test(text.trim()) && (kind === "port" ? n <= 65535 : kind === "count" || n > 0);
      if (ok) return { value: n };
      return {
        problem:
          kind === "port"
            ? "must be a port number from 0 to 65535"
            : kind === "count"
              ? "must be 0 or a positive integer"
              : "must be a positive integer",
      };
    }
    case "signal": {
      const name = text.toUpperCase().startsWith("SIG") ? text.toUpperCase() : `SIG${text.toUpperCase()}`;
      return /^SIG[A-Z0-9]+$/.test(name) ? { value: name } : { problem: "must be a signal name such as SIGUSR2" };
    }
  }
}

/** What startManhole() would say of these options, without the "manhole: " prefix; undefined when fine. */
function rejected(options: Record<string, unknown>): string | undefined {
  try {
    resolveOptions(options as ManholeOptions);
    return undefined;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^manhole: /, "");
  }
}

/** The options the environment sets, and one note per variable that could not be used. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): { options: ManholeOptions; problems: string[] } {
  const options: Record<string, unknown> = {};
  const tcp: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const row of ENV_OPTIONS) {
    const text = env[row.env];
    if (text === undefined) continue;
    if (text === "" && row.option !== "banner") continue;
    const got = convert(row.kind, text);
    if ("problem" in got) {
      problems.push(`${row.env}=${JSON.stringify(text)}: ${got.problem}; ignored`);
      continue;
    }
    if (row.option.startsWith("tcp.")) {
      tcp[row.option.slice(4)] = got.value;
      continue;
    }
    const value = row.option === "banner" && text === "" ? null : got.value;
    const why = rejected({ [row.option]: value });
    if (why) problems.push(`${row.env}=${JSON.stringify(text)}: ${why}; ignored`);
    else options[row.option] = value;
  }
  if (Object.keys(tcp).length > 0) {
    const why = tcp.port === undefined ? "MANHOLE_TCP_HOST and MANHOLE_TCP_TOKEN need MANHOLE_TCP_PORT" : rejected({ tcp });
    if (why) problems.push(`MANHOLE_TCP_*: ${why}; ignored`);
    else options.tcp = tcp;
  }
  return { options: options as ManholeOptions, problems };
}
