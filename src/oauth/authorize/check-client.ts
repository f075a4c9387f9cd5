import { AuthorizeError, type AuthorizeCheck } from "./context.ts";

/**
 * client_id names a registered client that is not switched off. Runs first:
 * nothing else can be judged without the client, and its errors are shown on
 * a page (there is no trusted redirect URI yet).
 */
export const checkClient: AuthorizeCheck = async (ctx) => {
  const values = ctx.params.get("client_id") ?? [];
  if (values.length === 0 || !values[0]) {
    throw new AuthorizeError("invalid_request", "The app did not say which app it is (client_id is missing).");
  }
  if (values.length > 1) throw new AuthorizeError("invalid_request", "The app sent client_id more than once.");
  const clientId = values[0];
  // Client ids are short; a long one is not worth a lookup.
  const client = clientId.length <= 200 ? await ctx.findClient(clientId) : null;
  if (!client) throw new AuthorizeError("invalid_client", "This app is not registered with scopegate (unknown client_id).");
  if (client.revokedAt) {
    throw new AuthorizeError("invalid_client", `${client.name} has been switched off, so it can no longer ask for access.`);
  }
  ctx.client = client;
};
