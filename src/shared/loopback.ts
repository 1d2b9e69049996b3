/**
 * Is `host` a loopback address (the only kind the TCP listener may bind, or the CLI may be told
 * to reach)? Plain text checks, so that importing manhole does not load `node:net`.
 */
const IPV4_LOOPBACK = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  const v4 = IPV4_LOOPBACK.exec(host);
  if (v4) return v4.slice(1).every((part) => Number(part) <= 255);
  // ::1 written out (0:0:0:0:0:0:0:1, with or without leading zeros), or IPv4-mapped 127.x.
  if (/^(0{1,4}:){7}0{0,3}1$/i.test(host)) return true;
  const mapped = /^::ffff:(.+)$/i.exec(host);
  return mapped !== null && IPV4_LOOPBACK.test(mapped[1]) && isLoopback(mapped[1]);
}
