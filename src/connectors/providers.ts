import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

/**
 * The providers scopegate may connect users to, as the operator configures
 * them in the JSON or YAML file (by its extension: .yaml or .yml) named by CONNECTORS_FILE. Nothing about any provider
 * is built in: endpoints come from the issuer's discovery document.
 */

/** Where the connector endpoints are (src/pages/connector-endpoints.ts): {prefix}/{slug}/authorize and .../callback. */
export const CONNECTORS_PREFIX = "/v1/connectors/oauth";

export interface ConnectorProvider {
  /** in the paths: /v1/connectors/oauth/{slug}/... */
  slug: string;
  /** shown to users */
  name: string;
  /** the provider's issuer; its metadata is found by RFC 8414 or OpenID Connect discovery */
  issuer: string;
  clientId: string;
  /** absent for a public client (PKCE only) */
  clientSecret?: string;
  tokenEndpointAuthMethod: "client_secret_basic" | "client_secret_post" | "none";
  scopes: string[];
  /** registered at the provider; default <ISSUER>/v1/connectors/oauth/{slug}/callback */
  redirectUri: string;
  /** plain http to a loopback issuer (a local provider in tests); never anything else */
  allowInsecureLoopback: boolean;
}

export class ConnectorsFileError extends Error {}

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

function isLoopbackHttp(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === "http:" && LOOPBACK_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

const url = z.string().refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), "must be an absolute http(s) URL");

const providerSchema = z
  .object({
    slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "must be 1 to 40 of a-z 0-9 - (starting with a letter or digit)"),
    name: z.string().min(1).max(100).optional(),
    issuer: url,
    clientId: z.string().min(1).max(500),
    clientSecret: z.string().min(1).max(2000).optional(),
    tokenEndpointAuthMethod: z.enum(["client_secret_basic", "client_secret_post", "none"]).optional(),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, "must be a scope token (RFC 6749 §3.3)"))
      .max(50)
      .default([]),
    redirectUri: url.optional(),
    allowInsecureLoopback: z.boolean().default(false),
  })
  .strict()
  .superRefine((p, ctx) => {
    const issuer = new URL(p.issuer);
    if (issuer.protocol !== "https:" && !(p.allowInsecureLoopback && isLoopbackHttp(p.issuer))) {
      ctx.addIssue({
        code: "custom",
        path: ["issuer"],
        message: "must be https (plain http only for a 127.0.0.1 or localhost issuer with allowInsecureLoopback: true)",
      });
    }
    if (issuer.search || issuer.hash) ctx.addIssue({ code: "custom", path: ["issuer"], message: "must have no query or fragment" });
    const method = p.tokenEndpointAuthMethod ?? (p.clientSecret ? "client_secret_basic" : "none");
    if (method !== "none" && !p.clientSecret) {
      ctx.addIssue({ code: "custom", path: ["clientSecret"], message: `is required with tokenEndpointAuthMethod ${method}` });
    }
  });

const fileSchema = z.union([z.object({ providers: z.array(providerSchema).max(100) }).strict(), z.array(providerSchema).max(100)]);

/**
 * Reads and checks CONNECTORS_FILE. Throws ConnectorsFileError with a
 * one-line message naming the file and what is wrong (never a secret's value).
 */
export function loadConnectorsFile(path: string, issuer: string): ConnectorProvider[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConnectorsFileError(`CONNECTORS_FILE ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const yaml = /\.ya?ml$/i.test(path);
  let json: unknown;
  try {
    json = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    throw new ConnectorsFileError(
      `CONNECTORS_FILE ${path} is not valid ${yaml ? "YAML" : "JSON"}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  return parseConnectors(json, issuer, `CONNECTORS_FILE ${path}`);
}

export function parseConnectors(json: unknown, issuer: string, source = "connectors"): ConnectorProvider[] {
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    // Of the union's two shapes, report against the one the file meant.
    const issue = pickIssue(json, parsed.error);
    const where = issue.path.length
      ? issue.path
          .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
          .join("")
          .replace(/^\./, "")
      : "";
    throw new ConnectorsFileError(`${source}: ${where ? `${where} ` : ""}${issue.message}`);
  }
  const list = Array.isArray(parsed.data) ? parsed.data : parsed.data.providers;
  const seen = new Set<string>();
  return list.map((p, i) => {
    if (seen.has(p.slug)) throw new ConnectorsFileError(`${source}: providers[${i}].slug "${p.slug}" is used twice`);
    seen.add(p.slug);
    return {
      slug: p.slug,
      name: p.name ?? p.slug,
      issuer: p.issuer,
      clientId: p.clientId,
      ...(p.clientSecret ? { clientSecret: p.clientSecret } : {}),
      tokenEndpointAuthMethod: p.tokenEndpointAuthMethod ?? (p.clientSecret ? "client_secret_basic" : "none"),
      scopes: p.scopes,
      redirectUri: p.redirectUri ?? `${issuer}${CONNECTORS_PREFIX}/${p.slug}/callback`,
      allowInsecureLoopback: p.allowInsecureLoopback && isLoopbackHttp(p.issuer),
    };
  });
}

function pickIssue(json: unknown, error: z.ZodError): { path: PropertyKey[]; message: string } {
  const first = error.issues[0]!;
  if (first.code === "invalid_union") {
    const branch = Array.isArray(json) ? 1 : 0;
    const inner = (first as unknown as { errors: z.core.$ZodIssue[][] }).errors[branch]?.[0];
    if (inner) return { path: branch === 0 ? inner.path : ["providers", ...inner.path], message: inner.message };
  }
  return { path: first.path, message: first.message };
}
