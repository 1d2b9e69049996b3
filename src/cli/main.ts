#!/usr/bin/env node
/** The `manhole` command: dispatches to one module per subcommand (see commands.ts). */
import fs from "node:fs";
import path from "node:path";
import { UsageError } from "./args.js";
import { allCommands, builtInCommand, operationCommand } from "./commands.js";
import { CliError, EXIT } from "./errors.js";
import { isRemote } from "./remote.js";
import { parseHostPort } from "./target.js";

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

function help(): string {
  const commands = allCommands();
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return `Usage: manhole <command> [options]

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join("\n")}

Options:
  -h, --help      show help (also: manhole <command> --help)
  -v, --version   print the version

Exit codes: 0 ok, 1 the code threw or a command failed, 2 usage, 3 no such process,
4 no manhole there, 5 permission denied, 6 protocol version mismatch, 7 timeout,
8 a remote target could not be reached (ssh/kubectl/docker failed, or no manhole installed there).

Targets: <pid>, <socket path>, <host:port> (TCP), and remote ones through ssh, kubectl
or docker: ssh://[user@]host[:port]/<pid>, kube://[namespace/]pod[/container]/<pid>,
docker://container/<pid> (see manhole ls --help for fleets: --ssh h1,h2, --kube -l app=x).

Connect to any manhole with:  nc -U <socket>   (or: socat - UNIX-CONNECT:<socket>)
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    process.stdout.write(help());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`${version()}\n`);
    return EXIT.ok;
  }
  const command =
    builtInCommand(name) ??
    (/^\d+$/.test(name) || parseHostPort(name) || isRemote(name) ? builtInCommand("connect") : operationCommand(name));
  if (!command) throw new UsageError(`unknown command "${name}" (see manhole --help)`);
  const args = command.name === name ? rest : argv; // `manhole <pid>` is `manhole connect <pid>`
  if (args.includes("--help") || args.includes("-h")) {
    process.stdout.write(command.help);
    return EXIT.ok;
  }
  return command.run(args);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const code = err instanceof CliError ? err.exitCode : err instanceof UsageError ? EXIT.usage : EXIT.failure;
    process.stderr.write(`manhole: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = code;
  },
);
