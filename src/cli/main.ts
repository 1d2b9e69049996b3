#!/usr/bin/env node
/** The `manhole` command. */
import fs from "node:fs";
import path from "node:path";
import { parseArgs, UsageError } from "./args.js";
import { demo, demoHelp } from "./demo.js";

const HELP = `Usage: manhole <command> [options]

Commands:
  demo        start a small demo app with a manhole, and print how to connect

Options:
  -h, --help      show help (also: manhole <command> --help)
  -v, --version   print the version

Connect to any manhole with:  nc -U <socket>   (or: socat - UNIX-CONNECT:<socket>)
`;

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-v") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  switch (command) {
    case "demo": {
      const args = parseArgs(rest, ["path"]);
      if (args.flags.has("help")) {
        process.stdout.write(demoHelp);
        return 0;
      }
      return demo(args);
    }
    default:
      throw new UsageError(`unknown command "${command}" (see manhole --help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const usage = err instanceof UsageError;
    process.stderr.write(`manhole: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
