/** Errors startManhole() rejects with that an app may want to tell apart (exported from the package). */

/** A live process already listens at the socket path (never taken over). */
export class SocketInUseError extends Error {
  override name = "SocketInUseError";
  code = "EADDRINUSE";
}
