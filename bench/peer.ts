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
  /** the audience of its access tokens (the resource indicator) */
  resource: string;
  /** errors oidc-provider reported through its events */
  serverErrors: () => number;
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

/**
 * oidc-provider 8.x configured as little as it takes to answer client_credentials
 * with a signed JWT access token: one confidential client (client_secret_basic),
 * and a resource indicator whose resource server asks for the `jwt` format,
 * ES256 like scopegate's access tokens. The request needs no `resource`
 * parameter: defaultResource supplies it, so both servers get the same body.
 * Storage is oidc-provider's default in-memory adapter; JWT access tokens are
 * not written to it (only opaque ones are).
 */
export async function startOidcProvider(): Promise<Peer> {
  let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const resource = `${url}/graphql`;
  const clientId = "bench-client";
  const clientSecret = randomBytes(32).toString("base64url");

  const provider = new Provider(url, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: "client_secret_basic",
      },
    ],
    // ES256 signs the access tokens; RS256 is there for the id_token default algorithm.
    jwks: { keys: [await signingJwk("ES256"), await signingJwk("RS256")] },
    scopes: ["openid", "offline_access", "profile:read", "data:read", "data:write"],
    cookies: { keys: [randomBytes(32).toString("base64url")] },
    ttl: { ClientCredentials: 3600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "profile:read data:read data:write",
          audience: resource,
          accessTokenTTL: 3600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "ES256" } },
        }),
      },
    },
  });
  let serverErrors = 0;
  provider.on("server_error", () => serverErrors++);
  handler = provider.callback();

  return {
    name: `oidc-provider ${oidcProviderVersion()}`,
    url,
    clientId,
    clientSecret,
    resource,
    serverErrors: () => serverErrors,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
