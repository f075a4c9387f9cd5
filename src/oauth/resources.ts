/**
 * The protected resources this server issues tokens for (RFC 8707 resource
 * indicators, RFC 9728 metadata): the GraphQL API and the MCP endpoint. Each
 * access token carries exactly one of them as its audience, and each resource
 * refuses the other's tokens. A request without `resource` gets the GraphQL
 * audience, as every token did before resources existed; `resource` naming the
 * origin (the root protected-resource document's resource, RFC 9728 §3.3) means
 * the same.
 */

export const RESOURCE_PATHS = { graphql: "/graphql", mcp: "/mcp" } as const;
export type ResourceName = keyof typeof RESOURCE_PATHS;
export const DEFAULT_RESOURCE: ResourceName = "graphql";

/** The resource's identifier, which is also the audience of its tokens. */
export function resourceUrl(issuer: string, name: ResourceName = DEFAULT_RESOURCE): string {
  return `${issuer}${RESOURCE_PATHS[name]}`;
}

/** Every audience a token of ours may carry. */
export function allAudiences(issuer: string): string[] {
  return (Object.keys(RESOURCE_PATHS) as ResourceName[]).map((name) => resourceUrl(issuer, name));
}

export type ResourceChoice = { ok: true; audience: string } | { ok: false; description: string };

/**
 * The audience for the `resource` values of a request (none, or one: several
 * would need a token per resource, which we do not issue).
 */
export function chooseAudience(issuer: string, values: readonly string[] | undefined): ResourceChoice {
  if (!values || values.length === 0) return { ok: true, audience: resourceUrl(issuer) };
  if (values.length > 1) return { ok: false, description: "Ask for one resource per token." };
  const value = values[0]!;
  if (value === issuer) return { ok: true, audience: resourceUrl(issuer) };
  const match = allAudiences(issuer).find((a) => a === value);
  if (match) return { ok: true, audience: match };
  // Printable ASCII only goes into error_description (RFC 6749 §5.2).
  const shown = value.length <= 100 && /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/.test(value) ? ` ${value}` : "";
  return { ok: false, description: `Unknown resource${shown}. Resources: ${allAudiences(issuer).join(", ")}.` };
}

/**
 * The audience for a token request whose grant was bound to `bound` (the
 * resource of its authorization request or refresh-token family; null: the
 * default). A `resource` parameter may only repeat it (RFC 8707 §2.2); a
 * token for another resource needs its own authorization.
 */
export function audienceForGrant(issuer: string, bound: string | null, requested: string | undefined): ResourceChoice {
  const family = bound ?? resourceUrl(issuer);
  if (requested === undefined) return { ok: true, audience: family };
  const choice = chooseAudience(issuer, [requested]);
  if (!choice.ok) return choice;
  if (choice.audience !== family)
    return { ok: false, description: `This grant is for the resource ${family}; ask for another resource with a new authorization.` };
  return choice;
}
