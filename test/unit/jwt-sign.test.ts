import { generateKeyPairSync, createPublicKey } from "node:crypto";
import { decodeProtectedHeader, exportJWK, importJWK, jwtVerify, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { signEs256Jwt } from "../../src/oauth/jwt-sign.ts";

// Access tokens are signed with node:crypto (faster) and verified with jose:
// the two must agree, in both directions.
describe("signEs256Jwt", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const payload = {
    iss: "https://as.example",
    sub: "u1",
    aud: "https://as.example/graphql",
    iat: 1_800_000_000,
    exp: 4_000_000_000,
    jti: "j1",
    scope: "data:read é",
  };

  it("signs what jose verifies, with the header it was given", async () => {
    const token = signEs256Jwt({ typ: "at+jwt", kid: "k1" }, payload, privateKey);
    const { payload: verified, protectedHeader } = await jwtVerify(token, publicKey, { typ: "at+jwt", algorithms: ["ES256"] });
    expect(verified).toEqual(payload);
    expect(protectedHeader).toEqual({ alg: "ES256", typ: "at+jwt", kid: "k1" });
  });

  it("cannot be made to claim another algorithm, and a tampered token fails jose's check", async () => {
    const token = signEs256Jwt({ alg: "none", typ: "at+jwt" }, payload, privateKey);
    expect(decodeProtectedHeader(token).alg).toBe("ES256");
    const [h, p, s] = token.split(".");
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...payload, sub: "u2" })).toString("base64url")}.${s}`;
    await expect(jwtVerify(forged, publicKey)).rejects.toThrow();
    expect(p).toBeTruthy();
  });

  it("produces raw r||s signatures like jose's own, verifiable by the same key from a JWK", async () => {
    const jwk = await exportJWK(publicKey);
    const joseToken = await new SignJWT(payload).setProtectedHeader({ alg: "ES256" }).sign(privateKey);
    const ours = signEs256Jwt({}, payload, privateKey);
    expect(Buffer.from(ours.split(".")[2]!, "base64url")).toHaveLength(64);
    expect(Buffer.from(joseToken.split(".")[2]!, "base64url")).toHaveLength(64);
    await expect(jwtVerify(ours, await importJWK(jwk, "ES256"))).resolves.toBeTruthy();
    await expect(jwtVerify(ours, createPublicKey(privateKey))).resolves.toBeTruthy();
  });
});
