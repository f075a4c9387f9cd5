import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

export interface Peer {
  name: string;
  url: string;
  clientId: string;
  clientSecret: string;
  /** the audience of its JWT access tokens (the default resource indicator) */
  resource: string;
  /** a second resource whose access tokens are opaque: oidc-provider can only introspect tokens it stores */
  opaqueResource: string;
  /** errors oidc-provider reported through its events */
  serverErrors: () => number;
  /** `count` fresh refresh tokens, each on a grant of its own (rotation makes each usable once) */
  mintRefreshTokens(count: number): Promise<string[]>;
  stop(): Promise<void>;
}

export function oidcProviderVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("oidc-provider/package.json") as { version: string }).version;
}

async function signingJwk(alg: "ES256" | "RS256") {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: "sig", kid: `bench-${alg.toLowerCase()}` };
}

const SCOPES = "profile:read data:read";
const ACCOUNT_ID = "bench-user";

/**
 * oidc-provider 8.x configured as little as it takes to answer what the
 * benchmark asks, like scopegate: one confidential client
 * (client_secret_basic); a resource indicator whose resource server asks for
 * `jwt` access tokens signed with ES256 (supplied by defaultResource, so both
 * servers get the same client_credentials body); refresh tokens rotated on
 * every use (`rotateRefreshToken: true`); introspection on. Storage is its
 * default in-memory adapter. JWT access tokens are not written to it, so they
 * cannot be introspected: the introspection case uses an opaque token issued
 * for a second resource.
 */
export async function startOidcProvider(): Promise<Peer> {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = `${url}/graphql`;
  const opaqueResource = `${url}/opaque`;
  const clientId = "bench-client";
  const clientSecret = randomBytes(32).toString("base64url");

  const provider = new Provider(url, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials", "authorization_code", "refresh_token"],
        response_types: ["code"],
        redirect_uris: ["http://127.0.0.1/callback"],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    // ES256 signs the access tokens; RS256 is there for the id_token default algorithm.
    jwks: { keys: [await signingJwk("ES256"), await signingJwk("RS256")] },
    scopes: ["openid", "offline_access", "profile:read", "data:read", "data:write"],
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    ttl: { ClientCredentials: 3600, AccessToken: 3600, RefreshToken: 30 * 24 * 3600, Grant: 365 * 24 * 3600 },
    rotateRefreshToken: true,
    findAccount: (_ctx: unknown, sub: string) => ({ accountId: sub, claims: () => ({ sub }) }),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Like scopegate: a client learns about its own tokens only.
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx: unknown, client: { clientId: string }, token: { clientId?: string }) => token.clientId === client.clientId,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, indicator: string) => ({
          scope: "profile:read data:read data:write",
          audience: indicator,
          accessTokenTTL: 3600,
          ...(indicator === opaqueResource
            ? { accessTokenFormat: "opaque" }
            : { accessTokenFormat: "jwt", jwt: { sign: { alg: "ES256" } } }),
        }),
      },
    },
  });
  let serverErrors = 0;
  provider.on("server_error", () => serverErrors++);
  handler = provider.callback();

  const models = provider as unknown as PeerModels;
  const client = await models.Client.find(clientId);
  if (!client) throw new Error("oidc-provider did not load the bench client");

  return {
    name: `oidc-provider ${oidcProviderVersion()}`,
    url,
    clientId,
    clientSecret,
    resource,
    opaqueResource,
    serverErrors: () => serverErrors,
    async mintRefreshTokens(count) {
      // What an authorization_code exchange with offline_access would have
      // stored, written through oidc-provider's own models.
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const grant = new models.Grant({ accountId: ACCOUNT_ID, clientId });
        grant.addResourceScope(resource, SCOPES);
        grant.addOIDCScope("offline_access");
        const grantId = await grant.save();
        const token = new models.RefreshToken({
          accountId: ACCOUNT_ID,
          client,
          grantId,
          gty: "authorization_code",
          scope: `offline_access ${SCOPES}`,
          resource,
          authTime: Math.floor(Date.now() / 1000),
        });
        out.push(await token.save());
      }
      return out;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

// The few oidc-provider model classes used to mint refresh tokens (it ships no types).
interface PeerModels {
  Client: { find(id: string): Promise<unknown> };
  Grant: new (init: {
    accountId: string;
    clientId: string;
  }) => {
    addResourceScope(resource: string, scope: string): void;
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  };
  RefreshToken: new (init: Record<string, unknown>) => { save(): Promise<string> };
}
