import { sign, type KeyObject } from "node:crypto";

/**
 * Signs a compact JWS with ES256 through node:crypto, which is several times
 * faster than jose's WebCrypto path (measured by `npm run bench`); jose still
 * verifies every token, and test/unit/jwt-sign.test.ts checks that jose
 * accepts what this signs. Hand-written on purpose: it is the one place where
 * scopegate builds a JWS itself.
 */
export function signEs256Jwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64url(JSON.stringify({ ...header, alg: "ES256" }))}.${b64url(JSON.stringify(payload))}`;
  // JWS wants the raw r||s signature (RFC 7518 §3.4), not DER.
  const signature = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
  return `${input}.${signature.toString("base64url")}`;
}

function b64url(s: string): string {
  return Buffer.from(s).toString("base64url");
}
