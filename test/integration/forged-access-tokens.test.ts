// Forged access tokens: each is refused as invalid_token by the real verify
// path (verifyAccessTokenJwt with the server's own KeyStore, on this
// project's database), and through /graphql with 401 and the Bearer
// challenge; one genuine token, and a copy this file re-signs with our key,
// are the controls that are accepted, so each refusal is for its one change.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  base64url,
  calculateJwkThumbprint,
  decodeJwt,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { KeyEncryption } from "../../src/lib/key-encryption.ts";
import { KeyStore } from "../../src/oauth/keys.ts";
import { ACCESS_TOKEN_IAT_LEEWAY_S, InvalidTokenError, verifyAccessTokenJwt } from "../../src/oauth/issued-tokens.ts";
import { startTestServer, TEST_KEY_ENCRYPTION_SECRET, type TestServer } from "../helpers/server.ts";

let server: TestServer;
/** SQL statements the server's database was sent, in order */
const statements: string[] = [];
/** a genuine access token from the token endpoint */
let genuine: string;
let claims: JWTPayload;
let accessKey: { kid: string; privateKey: CryptoKey };
let idKey: { kid: string; privateKey: CryptoKey };
let accessPublicJwk: JWK;
/** an ES256 key pair scopegate never issued */
let stranger: { privateKey: CryptoKey; publicJwk: JWK; kid: string };
/** where the jku and x5u headers point: it must never be asked */
let elsewhere: Server;
let elsewhereUrl: string;
let elsewhereHits = 0;

const now = () => Math.floor(Date.now() / 1000);
const enc = (o: object) => base64url.encode(JSON.stringify(o));
const signingKeyReads = () => statements.filter((s) => /"SigningKey"/.test(s)).length;

function sign(payload: JWTPayload, header: JWTHeaderParameters, key: CryptoKey | Uint8Array): Promise<string> {
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

/** Our access key over the genuine claims, with the header and claims changed as given (undefined removes one). */
function ours(change: { header?: Partial<JWTHeaderParameters>; claims?: Record<string, unknown> } = {}): Promise<string> {
  const header = { alg: "ES256", typ: "at+jwt", kid: accessKey.kid, ...change.header };
  const payload = { ...claims, ...change.claims };
  for (const o of [header, payload] as Record<string, unknown>[]) for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return sign(payload, header as JWTHeaderParameters, accessKey.privateKey);
}

function gql(token: string): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
}

/** Each forgery, built once the keys are known. */
const FORGERIES: [string, () => Promise<string>][] = [
  ["alg none, unsigned", async () => `${enc({ alg: "none", typ: "at+jwt", kid: accessKey.kid })}.${enc(claims)}.`],
  [
    "alg none, keeping the genuine signature",
    async () => `${enc({ alg: "none", typ: "at+jwt", kid: accessKey.kid })}.${genuine.split(".")[1]}.${genuine.split(".")[2]}`,
  ],
  [
    "HS256 keyed with our public JWK's bytes (algorithm confusion)",
    () => sign(claims, { alg: "HS256", typ: "at+jwt", kid: accessKey.kid }, new TextEncoder().encode(JSON.stringify(accessPublicJwk))),
  ],
  [
    "HS256 keyed with our public key's PEM (algorithm confusion)",
    async () => {
      const pem = await exportSPKI((await importJWK(accessPublicJwk, "ES256", { extractable: true })) as CryptoKey);
      return sign(claims, { alg: "HS256", typ: "at+jwt", kid: accessKey.kid }, new TextEncoder().encode(pem));
    },
  ],
  [
    "HS256 with a guessed secret",
    () => sign(claims, { alg: "HS256", typ: "at+jwt", kid: accessKey.kid }, new TextEncoder().encode("secret")),
  ],
  [
    "ES256 by a key we did not issue, naming our kid",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: accessKey.kid }, stranger.privateKey),
  ],
  [
    "ES256 by a key we did not issue, under its own kid",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: stranger.kid }, stranger.privateKey),
  ],
  [
    "RS256 by our id_token key (a key of another use)",
    () => sign(claims, { alg: "RS256", typ: "at+jwt", kid: idKey.kid }, idKey.privateKey),
  ],
  ["our key with no kid", () => ours({ header: { kid: undefined } })],
  ["typ JWT instead of at+jwt", () => ours({ header: { typ: "JWT" } })],
  ["no typ", () => ours({ header: { typ: undefined } })],
  [
    "a crit header extension we do not understand",
    () =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt", kid: accessKey.kid, crit: ["urn:example:unknown"], "urn:example:unknown": true })
        .sign(accessKey.privateKey, { crit: { "urn:example:unknown": true } }),
  ],
  ["another issuer", () => ours({ claims: { iss: "https://evil.example" } })],
  ["another audience", () => ours({ claims: { aud: "https://evil.example/graphql" } })],
  ["the issuer as audience", () => ours({ claims: { aud: server.issuer } })],
  ["expired", () => ours({ claims: { iat: now() - 700, exp: now() - 100 } })],
  ["expiring this very second", () => ours({ claims: { exp: now() } })],
  ["not before a time in the future", () => ours({ claims: { nbf: now() + 120 } })],
  ["issued in the future, beyond the leeway", () => ours({ claims: { iat: now() + ACCESS_TOKEN_IAT_LEEWAY_S + 5 } })],
  ["issued an hour in the future", () => ours({ claims: { iat: now() + 3600, exp: now() + 4200 } })],
  ["no exp", () => ours({ claims: { exp: undefined } })],
  ["no iat", () => ours({ claims: { iat: undefined } })],
  ["no sub", () => ours({ claims: { sub: undefined } })],
  ["no client_id", () => ours({ claims: { client_id: undefined } })],
  ["a client_id that is not a string", () => ours({ claims: { client_id: 42 } })],
  ["no jti", () => ours({ claims: { jti: undefined } })],
  ["no scope", () => ours({ claims: { scope: undefined } })],
  [
    "a jku header pointing elsewhere, signed by the key there",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: stranger.kid, jku: `${elsewhereUrl}/jwks.json` }, stranger.privateKey),
  ],
  [
    "an x5u header pointing elsewhere, signed by the key there",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: stranger.kid, x5u: `${elsewhereUrl}/cert.pem` }, stranger.privateKey),
  ],
  [
    "an embedded jwk header with the signing key, under its own kid",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: stranger.kid, jwk: stranger.publicJwk }, stranger.privateKey),
  ],
  [
    "an embedded jwk header with the signing key, naming our kid",
    () => sign(claims, { alg: "ES256", typ: "at+jwt", kid: accessKey.kid, jwk: stranger.publicJwk }, stranger.privateKey),
  ],
  [
    "the payload changed (more scopes), the genuine signature kept",
    async () => {
      const [h, , s] = genuine.split(".");
      return `${h}.${enc({ ...claims, scope: "profile:read data:read data:write" })}.${s}`;
    },
  ],
  [
    "the payload changed (another user), the genuine signature kept",
    async () => {
      const [h, , s] = genuine.split(".");
      return `${h}.${enc({ ...claims, sub: "someone-else" })}.${s}`;
    },
  ],
  ["the genuine token with a trailing dot", async () => `${genuine}.`],
  ["the genuine token with an extra segment", async () => `${genuine}.${genuine.split(".")[2]}`],
  ["the genuine token's header and payload only", async () => genuine.split(".").slice(0, 2).join(".")],
];

beforeAll(async () => {
  server = await startTestServer({}, { onQuery: (sql) => statements.push(sql) });
  const owner = await signUp(server.db.prisma, { name: "Owner", email: "owner@example.com", password: "correct horse battery" });
  if (!owner.ok) throw new Error("signup failed");
  const created = await insertClient(server.db.prisma, {
    ownerId: owner.user.id,
    name: "Backend",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/callback"],
    scopes: ["profile:read", "data:read"],
  });
  const res = await fetch(`${server.url}/v1/oauth/token`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${created.client.clientId}:${created.clientSecret}`).toString("base64")}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ grant_type: "client_credentials", scope: "data:read" }).toString(),
  });
  expect(res.status).toBe(200);
  genuine = ((await res.json()) as { access_token: string }).access_token;
  claims = decodeJwt(genuine);
  accessKey = await server.keys.signingKey("access");
  idKey = await server.keys.signingKey("id");
  accessPublicJwk = (await server.keys.jwks()).keys.find((k) => k.kid === accessKey.kid)!;
  const pair = await generateKeyPair("ES256", { extractable: true });
  const publicJwk = await exportJWK(pair.publicKey);
  stranger = { privateKey: pair.privateKey, publicJwk, kid: await calculateJwkThumbprint(publicJwk) };
  elsewhere = createServer((_req, res) => {
    elsewhereHits++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [{ ...publicJwk, kid: stranger.kid, alg: "ES256", use: "sig" }] }));
  });
  await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => elsewhere?.close(resolve));
  await server?.stop();
});

describe("forged access tokens", () => {
  it("accepts the genuine token, and a copy re-signed with our access key, as the controls", async () => {
    expect(await verifyAccessTokenJwt(server.keys, server.issuer, genuine)).toEqual(claims);
    expect(await verifyAccessTokenJwt(server.keys, server.issuer, await ours())).toEqual(claims);
    expect((await gql(genuine)).status).toBe(200);
    expect((await gql(await ours())).status).toBe(200);
  });

  it("accepts a token issued less than the leeway in the future (instances' clocks differ a little)", async () => {
    const early = await ours({ claims: { iat: now() + ACCESS_TOKEN_IAT_LEEWAY_S - 5 } });
    expect((await verifyAccessTokenJwt(server.keys, server.issuer, early)).jti).toBe(claims.jti);
  });

  it.each(FORGERIES)("refuses %s as an invalid token", async (_, forge) => {
    const token = await forge();
    await expect(verifyAccessTokenJwt(server.keys, server.issuer, token)).rejects.toBeInstanceOf(InvalidTokenError);
  });

  it("never looks a key up where a jku, x5u or jwk header points", () => {
    expect(elsewhereHits).toBe(0);
  });

  it("never verifies an access token with a key of another use", async () => {
    expect(await server.keys.verificationKey(accessKey.kid, "access")).not.toBeNull();
    expect(await server.keys.verificationKey(idKey.kid, "access")).toBeNull();
    expect(await server.keys.verificationKey(accessKey.kid, "id")).toBeNull();
  });

  it("answers every forgery at /graphql with 401 and error=invalid_token", async () => {
    for (const [name, forge] of FORGERIES) {
      const res = await gql(await forge());
      expect(res.status, name).toBe(401);
      expect(res.headers.get("www-authenticate"), name).toMatch(/^Bearer .*error="invalid_token"/);
      expect((await res.json()).errors[0].extensions.code, name).toBe("INVALID_TOKEN");
    }
    expect(elsewhereHits).toBe(0);
  });
});

describe("a token naming a kid we do not know", () => {
  it("reloads the keys from the database at most once every 10 seconds (a clock the test moves)", async () => {
    let clock = Date.now();
    const keys = new KeyStore(server.db.prisma, { keyEncryption: new KeyEncryption(TEST_KEY_ENCRYPTION_SECRET), now: () => clock });
    await keys.init();
    const unknown = await sign(claims, { alg: "ES256", typ: "at+jwt", kid: stranger.kid }, stranger.privateKey);
    const reads = async (n: number) => {
      const before = signingKeyReads();
      for (let i = 0; i < n; i++)
        await expect(verifyAccessTokenJwt(keys, server.issuer, unknown)).rejects.toBeInstanceOf(InvalidTokenError);
      return signingKeyReads() - before;
    };
    expect(await reads(50)).toBe(1); // the first unknown kid looks again, in case a new key was just made
    clock += 9_999;
    expect(await reads(50)).toBe(0);
    clock += 1;
    expect(await reads(50)).toBe(1);
    // known kids never reload
    const before = signingKeyReads();
    for (let i = 0; i < 50; i++) expect(await verifyAccessTokenJwt(keys, server.issuer, genuine)).toEqual(claims);
    expect(signingKeyReads() - before).toBe(0);
  });

  it("costs no query per request at /graphql", async () => {
    const unknown = await sign(claims, { alg: "ES256", typ: "at+jwt", kid: "not-a-kid-of-ours" }, stranger.privateKey);
    const before = signingKeyReads();
    for (let i = 0; i < 30; i++) expect((await gql(unknown)).status).toBe(401);
    expect(signingKeyReads() - before).toBeLessThanOrEqual(1);
  });
});
