// The example partner app's starting point in docs/migrating-from-client-credentials.md:
// a backend job that reads its owner's own data with a client_credentials token.
// It serves one person only, the developer who registered the client; the web
// app beside it (app.ts) serves anyone, with their consent, through the
// authorization code flow with PKCE.
//
//   CLIENT_ID=sgc_... CLIENT_SECRET=sgs_... npx tsx examples/partner-app/client-credentials.ts
//
// Environment: CLIENT_ID, CLIENT_SECRET (a confidential client), SCOPEGATE_ISSUER
// (default http://localhost:4000), SCOPE (default "profile:read data:read": only
// scopes the client is registered for; openid and offline_access are refused here).

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as oauth from "oauth4webapi";
import { isLocalIssuer, MEASUREMENTS_SHOWN } from "./app.ts";

export interface OwnDataOptions {
  /** scopegate's issuer URL (default http://localhost:4000) */
  issuer?: string;
  clientId: string;
  clientSecret: string;
  /** default "profile:read data:read" */
  scope?: string;
}

export interface OwnData {
  /** the scopes the token was issued with */
  scope: string;
  /** me: the client's owner */
  me: {
    id: string;
    name: string | null;
    email: string | null;
    measurements: { type: string; value: number; unit: string; recordedAt: string }[] | null;
  };
  /** GraphQL errors, e.g. INSUFFICIENT_SCOPE on fields the token's scopes do not open */
  errors: { message: string; extensions?: { code?: string } }[];
}

const QUERY = `query OwnData($first: Int!) {
  me { id name email measurements(first: $first) { edges { node { type value unit recordedAt } } } }
}`;

/** One client_credentials token, then one GraphQL request with it. */
export async function readOwnData(options: OwnDataOptions): Promise<OwnData> {
  const issuer = new URL(options.issuer ?? "http://localhost:4000");
  const http = isLocalIssuer(issuer) ? { [oauth.allowInsecureRequests]: true } : {};
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: "oauth2", ...http }));
  const client: oauth.Client = { client_id: options.clientId };
  const clientAuth = oauth.ClientSecretBasic(options.clientSecret);

  // The token acts as the client's owner; no user is asked, and none can be.
  const response = await oauth.clientCredentialsGrantRequest(
    as,
    client,
    clientAuth,
    new URLSearchParams({ scope: options.scope ?? "profile:read data:read" }),
    http,
  );
  const tokens = await oauth.processClientCredentialsResponse(as, client, response);

  const graphql = new URL(`${issuer.href.replace(/\/+$/, "")}/graphql`);
  const res = await oauth.protectedResourceRequest(
    tokens.access_token,
    "POST",
    graphql,
    new Headers({ "content-type": "application/json", accept: "application/json" }),
    JSON.stringify({ query: QUERY, variables: { first: MEASUREMENTS_SHOWN } }),
    http,
  );
  const body = (await res.json()) as { data?: { me?: any }; errors?: OwnData["errors"] };
  const me = body.data?.me;
  if (!me) throw new Error(`scopegate answered ${res.status}: ${body.errors?.[0]?.message ?? "no data"}`);
  return {
    scope: tokens.scope ?? "",
    me: {
      id: me.id,
      name: me.name ?? null,
      email: me.email ?? null,
      measurements: me.measurements ? me.measurements.edges.map((e: { node: unknown }) => e.node) : null,
    },
    errors: body.errors ?? [],
  };
}

async function main() {
  const clientId = process.env.CLIENT_ID;
  const clientSecret = process.env.CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    console.error("client-credentials: set CLIENT_ID and CLIENT_SECRET (a confidential client).");
    process.exit(1);
  }
  const own = await readOwnData({
    issuer: process.env.SCOPEGATE_ISSUER || undefined,
    clientId,
    clientSecret,
    scope: process.env.SCOPE || undefined,
  });
  console.log(`The client's owner: ${own.me.name ?? "(name not shared)"} <${own.me.email ?? "?"}>, sub ${own.me.id}; scope "${own.scope}"`);
  for (const m of own.me.measurements ?? []) console.log(`  ${m.recordedAt}  ${m.type}  ${m.value} ${m.unit}`);
  for (const e of own.errors) console.log(`  (${e.extensions?.code ?? "error"}: ${e.message})`);
}

// Run only when started as a program, not when a test imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(`client-credentials: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
