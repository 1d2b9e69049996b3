/**
 * `manhole bridge <pid|socket>`: stdin → the local manhole socket, the socket → stdout, byte for
 * byte, after the same checks as connect. What a remote target runs on the far side (ssh, kubectl
 * exec, docker exec): the CLI there speaks through it; nothing listens on any port.
 */
import net from "node:net";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { connectError } from "./client.js";
import { parseTimeout, resolveEndpoint } from "./endpoint.js";
import { EXIT } from "./errors.js";
import { isRemote } from "./remote.js";
import { parseHostPort } from "./target.js";

export const bridgeHelp = `Usage: manhole bridge [--signal <SIG>] [--timeout <ms>] <pid|socket>

Connects stdin and stdout to the manhole of a local process, byte for byte: what
comes on stdin goes to the socket, what the manhole says goes to stdout. End of
stdin half-closes the connection (the manhole answers what it got, then closes);
the bridge exits when the manhole closes it. Errors (no such process, no manhole,
permission denied) are one line on stderr with the exit codes of manhole connect.

This is what remote targets run on the far side: manhole connect ssh://host/4242
runs "manhole bridge 4242" there through ssh and speaks the protocol through it.
It opens no port. Any tool with a stdio channel can use it the same way:
  socat UNIX-LISTEN:/tmp/fwd.sock EXEC:'ssh db1 manhole bridge 4242'

Options:
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
  --timeout <ms>    how long to wait for that socket (default 5000); exit 7
  -h, --help        show this help

Exit codes: 0 the manhole closed the connection, 2 usage, 3 no such process,
4 no manhole there, 5 permission denied, 7 timeout.
`;

export async function bridge(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["timeout", "signal"]);
  const unknown = [...args.flags][0];
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole bridge --help)`);
  if (args.positionals.length !== 1) throw new UsageError("bridge needs one <pid|socket> (see manhole bridge --help)");
  const spec = args.positionals[0];
  if (isRemote(spec) || parseHostPort(spec)) throw new UsageError(`bridge takes a local pid or socket, not ${spec}`);
  const timeoutMs = parseTimeout(args) ?? 5000;
  const { socket: socketPath } = await resolveEndpoint(spec, args, timeoutMs);

  // The manhole's bytes are read into one buffer, reused: each read is written to stdout and the
  // socket is paused until stdout has taken it all, so the bridge holds at most one buffer of
  // them whatever passes through it (a slow reader makes the manhole's writes wait in the kernel),
  // and makes no garbage per chunk.
  const buffer = Buffer.allocUnsafe(READ_BUFFER);
  let waiting = false;
  const written = (): void => {
    if (waiting && process.stdout.writableLength === 0) {
      waiting = false;
      socket.resume();
    }
  };
  const socket = net.connect({
    path: socketPath,
    onread: {
      buffer,
      callback(bytes: number, buf: Uint8Array): boolean {
        process.stdout.write(buf.subarray(0, bytes), written);
        if (process.stdout.writableLength === 0) return true;
        waiting = true; // the write still refers to the buffer: no read until it is done
        return false;
      },
    },
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", (err: NodeJS.ErrnoException) => reject(connectError(socketPath, err, false)));
  });
  return new Promise((resolve) => {
    socket.on("error", () => {}); // a reset: the close below ends the bridge
    process.stdout.on("error", () => socket.destroy()); // the reader is gone (EPIPE)
    // stdin → socket: pipe() pauses stdin while the socket is full; end of stdin half-closes it.
    process.stdin.pipe(socket);
    socket.once("close", () => {
      process.stdin.unpipe(socket);
      process.stdin.destroy();
      // stdout does not keep the process alive: exit only once all of it is written.
      process.stdout.write("", () => resolve(EXIT.ok));
    });
  });
}

/** How much of the manhole's output the bridge reads at a time. */
const READ_BUFFER = 64 * 1024;

export const bridgeCommand: CliCommand = {
  name: "bridge",
  summary: "stdin/stdout <-> a local manhole, byte for byte (what ssh/kubectl targets run)",
  help: bridgeHelp,
  run: bridge,
};
