import { randomUUID } from "node:crypto";
import { recordAudit } from "../../audit/audit.ts";
import { randomToken, sha256 } from "../../lib/crypto.ts";
import { transaction } from "../../db/changes.ts";
import type { Sql } from "../../db/index.ts";
import { OAuthError } from "../errors.ts";
import { revokeGrant } from "../../consent/grants.ts";
import { parseScope } from "../params.ts";
import { PROTOCOL_SCOPES } from "../../consent/scopes.ts";
import { issueAccessToken, refreshIdleExpiry, type IssuedAccessToken } from "../issued-tokens.ts";
import { audienceForGrant } from "../resources.ts";
import { bearerResponse, type GrantHandler, type GrantRequest } from "./types.ts";

interface PresentedToken {
  id: string;
  grantId: string;
  scopes: string[];
  codeId: string | null;
  audience: string | null;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  rotatedAt: Date | null;
  revokedAt: Date | null;
  userId: string;
  clientRowId: string;
  grantScopes: string[];
  grantRevokedAt: Date | null;
}

/**
 * Rotation is the hot path of a long-lived connection, so it takes two
 * statements and no interactive transaction: one read (the token and its
 * grant, joined), then one statement that spends the token and stores its
 * successor atomically (the UPDATE's `rotatedAt IS NULL` makes it one-time:
 * of two requests with the same token only one gets a row back). Everything
 * that refuses without changing anything answers from the read; reuse, which
 * revokes the grant, runs in a transaction of its own.
 */
export const refreshTokenGrant: GrantHandler = async (req) => {
  const { deps, client, params } = req;
  const presented = params.refresh_token;
  if (!presented) throw new OAuthError("invalid_request", "refresh_token is required.");
  const requested = params.scope !== undefined ? parseScope(params.scope) : null;
  deps.audit.assertRoom();
  const accessKey = await deps.keys.signingKey("access");

  const [token] = await deps.sql<PresentedToken>(
    `SELECT t."id", t."grantId", t."scopes", t."codeId", t."audience",
            (t."idleExpiresAt" AT TIME ZONE 'UTC') AS "idleExpiresAt", (t."absoluteExpiresAt" AT TIME ZONE 'UTC') AS "absoluteExpiresAt",
            (t."rotatedAt" AT TIME ZONE 'UTC') AS "rotatedAt", (t."revokedAt" AT TIME ZONE 'UTC') AS "revokedAt",
            g."userId", g."clientId" AS "clientRowId", g."scopes" AS "grantScopes", (g."revokedAt" AT TIME ZONE 'UTC') AS "grantRevokedAt"
     FROM "RefreshToken" t JOIN "Grant" g ON g."id" = t."grantId"
     WHERE t."tokenHash" = $1`,
    [sha256(presented)],
  );
  if (!token) throw new OAuthError("invalid_grant", "The refresh token is invalid.");
  if (token.clientRowId !== client.id) throw new OAuthError("invalid_grant", "The refresh token was issued to another client.");
  if (token.revokedAt || token.grantRevokedAt) throw new OAuthError("invalid_grant", "The refresh token was revoked.");
  // An already-rotated token came back: someone holds a copy. End the whole grant (RFC 9700 §4.14.2).
  if (token.rotatedAt) throw await refuseSpentToken(req, token);
  // Refusals that are the client's mistake leave the token usable: only a
  // token that passes every check is spent.
  const now = new Date();
  if (token.idleExpiresAt <= now || token.absoluteExpiresAt <= now) {
    throw new OAuthError("invalid_grant", "The refresh token expired.");
  }
  // What the token may still carry: the user may have narrowed the grant and
  // the developer the client's scopes since it was issued.
  const allowed = token.scopes.filter(
    (s) => token.grantScopes.includes(s) && (client.scopes.includes(s) || (PROTOCOL_SCOPES as readonly string[]).includes(s)),
  );
  let scopes = allowed;
  if (requested) {
    const extra = requested.filter((s) => !allowed.includes(s));
    if (extra.length) throw new OAuthError("invalid_scope", `The refresh token does not cover: ${extra.join(" ")}.`);
    scopes = requested;
  }

  const target = audienceForGrant(deps.config.issuer, token.audience, params.resource);
  if (!target.ok) throw new OAuthError("invalid_target", target.description);
  const access = issueAccessToken(accessKey, deps.config.issuer, {
    client,
    userId: token.userId,
    grantId: token.grantId,
    scopes,
    audience: target.audience,
  });
  const response = bearerResponse(access, scopes);
  // The successor keeps the family's scopes and absolute expiry; only the idle window restarts.
  const successor = client.refreshTokens ? randomToken() : null;
  if (!(await rotate(deps.sql, token, now, successor, allowed, access))) {
    throw await refuseSpentToken(req, token); // another request spent it first, or it was revoked meanwhile
  }
  if (successor) response.refresh_token = successor;
  deps.audit.grantUsed(token.grantId);
  deps.audit.push({
    action: "token.issued",
    userId: token.userId,
    clientId: client.id,
    grantId: token.grantId,
    detail: `grant_type=refresh_token scope=${response.scope}`,
  });
  return response;
};

/**
 * Spends the token and stores its successor (if any) in one statement; false
 * when it was no longer live. Plain SQL on the pool, like the read above: this
 * is the hot path of every long-lived connection. Times are UTC (`timestamp(3)`).
 */
async function rotate(
  sql: Sql,
  token: PresentedToken,
  now: Date,
  successor: string | null,
  scopes: string[],
  access: IssuedAccessToken,
): Promise<boolean> {
  const utc = (d: Date) => d.toISOString();
  if (!successor) {
    const spent = await sql(
      `UPDATE "RefreshToken" SET "rotatedAt" = ($2::timestamptz AT TIME ZONE 'UTC')
       WHERE "id" = $1 AND "rotatedAt" IS NULL AND "revokedAt" IS NULL RETURNING "id"`,
      [token.id, utc(now)],
    );
    return spent.length === 1;
  }
  const idleExpiresAt = refreshIdleExpiry(now.getTime(), token.absoluteExpiresAt);
  const rows = await sql(
    `WITH spent AS (
       UPDATE "RefreshToken" SET "rotatedAt" = ($2::timestamptz AT TIME ZONE 'UTC')
       WHERE "id" = $1 AND "rotatedAt" IS NULL AND "revokedAt" IS NULL
       RETURNING "id"
     )
     INSERT INTO "RefreshToken" ("id", "tokenHash", "grantId", "scopes", "codeId", "createdAt", "idleExpiresAt", "absoluteExpiresAt",
                                 "accessTokenJti", "accessTokenExpiresAt", "audience")
     SELECT $3, $4, $5, $6::text[], $7, ($2::timestamptz AT TIME ZONE 'UTC'), ($8::timestamptz AT TIME ZONE 'UTC'),
            ($9::timestamptz AT TIME ZONE 'UTC'), $10, ($11::timestamptz AT TIME ZONE 'UTC'), $12
     FROM spent
     RETURNING "id"`,
    [
      token.id,
      utc(now),
      randomUUID(),
      sha256(successor),
      token.grantId,
      scopes,
      token.codeId,
      utc(idleExpiresAt),
      utc(token.absoluteExpiresAt),
      access.jti,
      utc(access.expiresAt),
      token.audience,
    ],
  );
  return rows.length === 1;
}

/**
 * The token was spent (or revoked) before this request could spend it. Spent
 * means a copy is in someone else's hands: the grant is revoked, in a
 * transaction that also records why. Returns the error to answer with.
 */
async function refuseSpentToken({ c, deps, client }: GrantRequest, token: PresentedToken): Promise<OAuthError> {
  return transaction(deps.prisma, async (tx) => {
    const now = await tx.refreshToken.findUnique({ where: { id: token.id }, select: { rotatedAt: true, revokedAt: true } });
    if (!now?.rotatedAt) return new OAuthError("invalid_grant", "The refresh token was revoked.");
    await revokeGrant(tx, token.grantId, "refresh token reuse detected");
    await recordAudit(tx, {
      action: "refresh_token.reused",
      userId: token.userId,
      clientId: client.id,
      grantId: token.grantId,
      detail: "a rotated refresh token was presented again; the grant was revoked",
    });
    c.var.log.warn({ clientId: client.clientId, grantId: token.grantId }, "refresh token reuse: grant revoked");
    return new OAuthError("invalid_grant", "The refresh token was already used; access has been revoked.");
  });
}
