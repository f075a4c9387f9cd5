import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as oauth from "oauth4webapi";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signUp } from "../../src/accounts/accounts.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import type { Database } from "../../src/db/index.ts";
import { keyEncryptionFor } from "../../src/db/key-encryption-secret.ts";
import { createLogger } from "../../src/lib/log.ts";
import { insertClient } from "../../src/clients/clients.ts";
import { rotateSigningKeys } from "../../src/oauth/keys.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { embeddedDataDirFromTemplate, openTestDatabase } from "../helpers/db.ts";
import { freePort, testConfig } from "../helpers/server.ts";
import { currentKind } from "../helpers/kinds.ts";

const opts = { [oauth.allowInsecureRequests]: true } as const;
const logger = createLogger("silent", false);

async function clientCredentialsToken(issuer: string, clientId: string, secret: string): Promise<string> {
  const url = new URL(issuer);
  const as = await oauth.processDiscoveryResponse(url, await oauth.discoveryRequest(url, { ...opts, algorithm: "oauth2" }));
  const client = { client_id: clientId };
  const res = await oauth.clientCredentialsGrantRequest(as, client, oauth.ClientSecretBasic(secret), new URLSearchParams(), opts);
  return (await oauth.processClientCredentialsResponse(as, client, res)).access_token;
}

async function me(url: string, token: string) {
  return fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
}

async function setupClient(db: Database) {
  const u = await signUp(db.prisma, { name: "K", email: "k@example.com", password: "correct horse battery" });
  if (!u.ok) throw new Error("signup");
  const c = await insertClient(db.prisma, {
    ownerId: u.user.id,
    name: "Keys",
    environment: "DEVELOPMENT",
    type: "CONFIDENTIAL",
    redirectUris: ["http://localhost:3000/cb"],
    scopes: ["data:read"],
  });
  return { userId: u.user.id, clientId: c.client.clientId, secret: c.clientSecret! };
}

describe("signing keys", () => {
  let db: Awaited<ReturnType<typeof openTestDatabase>>;
  let config: Config;
  beforeAll(async () => {
    db = await openTestDatabase();
    const port = await freePort();
    config = testConfig(port);
  });
  afterAll(async () => {
    await db?.drop();
  });

  it("serves ES256 access-token and RS256 id_token keys; rotation adds keys that sign from then on while old ones stay published", async () => {
    const { clientId, secret } = await setupClient(db);
    let server: RunningServer = await startServer(config, logger, { db });
    const before = await clientCredentialsToken(config.issuer, clientId, secret);
    const jwks1 = await (await fetch(`${server.url}/v1/oauth/jwks`)).json();
    expect(jwks1.keys.map((k: { alg: string }) => k.alg).sort()).toEqual(["ES256", "RS256"]);
    for (const k of jwks1.keys) {
      expect(k.d).toBeUndefined(); // public parts only
      expect(k.kid).toBeTruthy();
    }
    await server.close();

    const newKids = await rotateSigningKeys(db.prisma, keyEncryptionFor(config.keyEncryption, db));
    server = await startServer(config, logger, { db });
    try {
      const after = await clientCredentialsToken(config.issuer, clientId, secret);
      const kidBefore = decodeProtectedHeader(before).kid;
      const kidAfter = decodeProtectedHeader(after).kid;
      expect(kidAfter).not.toBe(kidBefore);
      expect(newKids).toContain(kidAfter);
      const jwks2 = await (await fetch(`${server.url}/v1/oauth/jwks`)).json();
      const kids = jwks2.keys.map((k: { kid: string }) => k.kid);
      expect(kids).toContain(kidBefore);
      expect(kids).toContain(kidAfter);
      expect(kids).toHaveLength(4);
      // both tokens verify against the published JWKS and both still work
      const set = createLocalJWKSet(jwks2);
      for (const t of [before, after]) {
        await expect(
          jwtVerify(t, set, { issuer: config.issuer, audience: `${config.issuer}/graphql`, typ: "at+jwt" }),
        ).resolves.toBeTruthy();
        expect((await me(server.url, t)).status).toBe(200);
      }
    } finally {
      await server.close();
    }
  });
});

// Only meaningful on the embedded database (PostgreSQL outlives the process anyway).
if (currentKind() === "pglite")
  describe("a restart of the embedded database", () => {
    it("keeps signing keys, clients and tokens: a token from before the restart works after it", async () => {
      const dataDir = mkdtempSync(join(tmpdir(), "scopegate-restart-"));
      await embeddedDataDirFromTemplate(dataDir, "migrated");
      const port = await freePort();
      const config: Config = {
        ...loadConfig({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, SEED_DEMO: "false", DATA_DIR: dataDir }),
        host: "127.0.0.1",
      };
      try {
        let server = await startServer(config, logger);
        const { clientId, secret } = await setupClient(server.db);
        const token = await clientCredentialsToken(config.issuer, clientId, secret);
        const jwksBefore = await (await fetch(`${server.url}/v1/oauth/jwks`)).json();
        expect((await me(server.url, token)).status).toBe(200);
        await server.close();

        server = await startServer(config, logger);
        try {
          expect(await (await fetch(`${server.url}/v1/oauth/jwks`)).json()).toEqual(jwksBefore);
          expect((await me(server.url, token)).status).toBe(200);
        } finally {
          await server.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });

if (currentKind() === "pglite")
  describe("npm run keys:rotate", () => {
    it("adds new signing keys in the database the server uses, and refuses an embedded folder in use", async () => {
      const { execFile } = await import("node:child_process");
      const { REPO_ROOT } = await import("../helpers/process.ts");
      const run = (env: Record<string, string>) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--import", "tsx", "scripts/rotate-keys.ts"],
            {
              cwd: REPO_ROOT,
              env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
              timeout: 60_000,
            },
            (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });

      const dataDir = mkdtempSync(join(tmpdir(), "scopegate-rotate-"));
      await embeddedDataDirFromTemplate(dataDir, "migrated");
      try {
        const port = await freePort();
        const config: Config = {
          ...loadConfig({ PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, SEED_DEMO: "false", DATA_DIR: dataDir }),
          host: "127.0.0.1",
        };
        const server = await startServer(config, logger);
        const before = (await (await fetch(`${server.url}/v1/oauth/jwks`)).json()).keys.length;
        // the running server holds the folder: the script must not open it too
        const refused = await run({ DATA_DIR: dataDir });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/in use by process \d+; stop it first/);
        await server.close();

        const rotated = await run({ DATA_DIR: dataDir });
        expect(rotated.code).toBe(0);
        const kids = /new signing keys: (\S+), (\S+)/.exec(rotated.stdout);
        expect(kids).toBeTruthy();
        const again = await startServer(config, logger);
        try {
          const jwks = (await (await fetch(`${again.url}/v1/oauth/jwks`)).json()).keys.map((k: { kid: string }) => k.kid);
          expect(jwks).toHaveLength(before + 2);
          expect(jwks).toEqual(expect.arrayContaining([kids![1], kids![2]]));
        } finally {
          await again.close();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }, 120_000);
  });
