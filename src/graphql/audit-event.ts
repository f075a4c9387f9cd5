import type { AuditEvent } from "../generated/prisma/client.ts";
import { auditTrailRows } from "../audit/audit-log.ts";
import { AccountRef } from "./account.ts";
import { builder } from "./builder.ts";
import { connectionType, pageCost, resolvePage } from "./connection.ts";
import { OAuthClientRef } from "./oauth-client.ts";

// The audit trail, read-only and account session only. There is no mutation
// that edits or deletes audit events.

export const AuditEventRef = builder.prismaObject("AuditEvent", {
  description:
    "Who did what, when, under which grant: token issued, data read (fields) or written, grant created or revoked, client revoked.",
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

const AuditEventConnectionRef = connectionType("AuditEvent", AuditEventRef, { account: true });

builder.objectField(AccountRef, "auditLog", (t) =>
  t.field({
    type: AuditEventConnectionRef,
    nullable: false,
    description:
      "This account's audit trail, newest first: what each app did with the account's data and when, under which grant. " +
      "clientId (an OAuth client_id) keeps one app's events.",
    args: { first: t.arg.int(), after: t.arg.string(), clientId: t.arg.id() },
    complexity: pageCost,
    resolve: (account, args, ctx) =>
      resolvePage(
        args,
        (event: AuditEvent) => event,
        (limit, after) =>
          auditTrailRows(ctx.prisma, account.userId, {
            limit,
            after,
            clientId: args.clientId === null || args.clientId === undefined ? null : String(args.clientId),
          }),
      ),
  }),
);
