import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A random, URL-safe opaque token with 256 bits of entropy. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

/** Hash for high-entropy tokens stored server-side (sessions, codes, refresh tokens). */
export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

/** Constant-time string comparison (compares digests so lengths can differ). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}
