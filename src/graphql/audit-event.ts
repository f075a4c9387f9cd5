import type { AuditEvent } from "../generated/prisma/client.ts";
import { AuditCursorError, auditTrailPage, encodeAuditCursor } from "../audit/audit-log.ts";
import { AccountRef } from "./account.ts";
import { builder } from "./builder.ts";
import { badUserInput } from "./errors.ts";
import { OAuthClientRef } from "./oauth-client.ts";
import { PageInfoRef, pageSize } from "./pagination.ts";

// The audit trail, read-only and account session only. There is no mutation
// that edits or deletes audit events.

export const AuditEventRef = builder.prismaObject("AuditEvent", {
  description: "Who did what, when, under which grant: token issued, data read (fields) or written, grant created or revoked, client revoked.",
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    at: t.expose("at", { type: "DateTime", nullable: false }),
    action: t.exposeString("action", {
      nullable: false,
      description: "token.issued, token.revoked, data.read, data.written, grant.created, grant.updated, grant.revoked, client.revoked, ...",
    }),
    client: t.relation("client", {
      type: OAuthClientRef,
      nullable: true,
      description: "The app (OAuth client) involved, if any.",
    }),
    grantId: t.exposeID("grantId", { description: "The grant (connected app) that allowed it." }),
    detail: t.exposeString("detail", {
      description: 'What exactly: the fields read ("fields: me{email,measurements}"), the write, the scopes, the reason.',
    }),
  }),
});

const AuditEventEdgeRef = builder.objectRef<{ cursor: string; node: AuditEvent }>("AuditEventEdge").implement({
  authScopes: { account: true },
  fields: (t) => ({
    cursor: t.exposeString("cursor", { nullable: false }),
    node: t.field({ type: AuditEventRef, nullable: false, resolve: (e) => e.node }),
  }),
});

const AuditEventConnectionRef = builder
  .objectRef<{ edges: { cursor: string; node: AuditEvent }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>(
    "AuditEventConnection",
  )
  .implement({
    authScopes: { account: true },
    fields: (t) => ({
      edges: t.field({ type: [AuditEventEdgeRef], nullable: false, resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfoRef, nullable: false, resolve: (c) => c.pageInfo }),
    }),
  });

builder.objectField(AccountRef, "auditLog", (t) =>
  t.field({
    type: AuditEventConnectionRef,
    nullable: false,
    description:
      "This account's audit trail, newest first: what each app did with the account's data and when, under which grant. " +
      "clientId (an OAuth client_id) keeps one app's events.",
    args: { first: t.arg.int(), after: t.arg.string(), clientId: t.arg.id() },
    resolve: async (account, args, ctx) => {
      const first = pageSize(args.first);
      let page;
      try {
        page = await auditTrailPage(ctx.prisma, account.userId, {
          first,
          after: args.after,
          clientId: args.clientId === null || args.clientId === undefined ? null : String(args.clientId),
        });
      } catch (err) {
        if (err instanceof AuditCursorError) throw badUserInput("after", err.message);
        throw err;
      }
      // The node is the bare row: Pothos loads `client` itself, with the fields the query selects.
      const edges = page.events.map(({ client: _client, ...node }) => ({ cursor: encodeAuditCursor(node), node }));
      return { edges, pageInfo: { hasNextPage: page.hasNextPage, endCursor: page.endCursor } };
    },
  }),
);
