/**
 * The token that guards the TCP listener: generated (32 random bytes, base64url) unless given,
 * written 0600 beside the socket (shared/token-file.ts), compared in constant time, and a per-address limit on failures.
 */
import crypto from "node:crypto";

/** 32 random bytes, base64url. */
export function generateToken(): string {
  return crypto.randomBytes(32).toString("base64url");
}

/**
 * Constant-time comparison: both sides are hashed first (SHA-256), so the buffers given to
 * timingSafeEqual always have equal length and the time does not depend on where they differ.
 */
export function tokenMatches(expected: string, given: string): boolean {
  const a = crypto.createHash("sha256").update(expected, "utf8").digest();
  const b = crypto.createHash("sha256").update(given, "utf8").digest();
  return crypto.timingSafeEqual(a, b);
}

/** After `max` failures from one address within `windowMs`, that address is refused for `windowMs`. */
export class FailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private readonly blocked = new Map<string, number>();

  constructor(
    private readonly max = 5,
    private readonly windowMs = 60_000,
  ) {}

  isBlocked(address: string, now = Date.now()): boolean {
    const until = this.blocked.get(address);
    if (until === undefined) return false;
    if (now < until) return true;
    this.blocked.delete(address);
    return false;
  }

  fail(address: string, now = Date.now()): void {
    const recent = (this.failures.get(address) ?? []).filter((t) => now - t < this.windowMs);
    recent.push(now);
    if (recent.length >= this.max) {
      this.failures.delete(address);
      this.blocked.set(address, now + this.windowMs);
    } else {
      this.failures.set(address, recent);
    }
  }
}
