/** The CLI's exit codes (documented in `manhole --help` and README) and the error that carries one. */
export const EXIT = {
  ok: 0,
  /** The evaluated code threw, or a command failed. */
  failure: 1,
  usage: 2,
  noProcess: 3,
  noManhole: 4,
  permission: 5,
  protocol: 6,
  timeout: 7,
  /** A remote target could not be reached: ssh/kubectl/docker failed or is missing, or manhole is not installed there. */
  transport: 8,
  /** Ctrl-C stopped an operation (its answer was printed): 128 + SIGINT, as shells report it. */
  interrupted: 130,
} as const;

export class CliError extends Error {
  override name = "CliError";
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
