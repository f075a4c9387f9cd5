import type { Db } from "../db/index.ts";

export const EXPORT_FORMAT = "scopegate-account-export/1";

/**
 * Everything scopegate holds about a user, as one JSON-ready object: profile,
 * health measurements, workout sessions, GPS points, sign-ins, the OAuth
 * clients they registered (never a secret, hash or hint), the apps they
 * connected (grants) and their audit trail. Read in one repeatable-read
 * transaction so the parts agree with each other.
 */
export async function exportAccount(prisma: Db, userId: string, now = new Date()) {
  return prisma.$transaction(
    async (tx) => {
      const user = await tx.user.findUniqueOrThrow({ where: { id: userId } });
      const measurements = await tx.measurement.findMany({ where: { userId }, orderBy: [{ recordedAt: "asc" }, { id: "asc" }] });
      const sessions = await tx.session.findMany({ where: { userId }, orderBy: [{ startedAt: "asc" }, { id: "asc" }] });
      const locations = await tx.location.findMany({ where: { userId }, orderBy: [{ recordedAt: "asc" }, { id: "asc" }] });
      const signIns = await tx.accountSession.findMany({ where: { userId }, orderBy: { createdAt: "asc" } });
      const clients = await tx.oAuthClient.findMany({ where: { ownerId: userId }, orderBy: { createdAt: "asc" } });
      const grants = await tx.grant.findMany({
        where: { userId },
        include: { client: { select: { clientId: true, name: true, environment: true } } },
        orderBy: { createdAt: "asc" },
      });
      const events = await tx.auditEvent.findMany({
        where: { userId },
        include: { client: { select: { clientId: true, name: true } } },
        orderBy: [{ at: "asc" }, { id: "asc" }],
      });
      return {
        format: EXPORT_FORMAT,
        exportedAt: now.toISOString(),
        profile: {
          id: user.id,
          email: user.email,
          name: user.name,
          birthDate: user.birthDate?.toISOString().slice(0, 10) ?? null,
          isAdmin: user.isAdmin,
          createdAt: user.createdAt,
          updatedAt: user.updatedAt,
        },
        measurements: measurements.map((m) => ({
          id: m.id,
          type: m.type,
          value: m.value,
          unit: m.unit,
          recordedAt: m.recordedAt,
          createdAt: m.createdAt,
          updatedAt: m.updatedAt,
        })),
        sessions: sessions.map((s) => ({
          id: s.id,
          activity: s.activity,
          startedAt: s.startedAt,
          endedAt: s.endedAt,
          distanceMeters: s.distanceMeters,
          calories: s.calories,
          createdAt: s.createdAt,
        })),
        locations: locations.map((l) => ({
          id: l.id,
          sessionId: l.sessionId,
          latitude: l.latitude,
          longitude: l.longitude,
          recordedAt: l.recordedAt,
        })),
        // Sign-ins without their cookie hash or CSRF token.
        signIns: signIns.map((s) => ({
          id: s.id,
          userAgent: s.userAgent,
          createdAt: s.createdAt,
          lastSeenAt: s.lastSeenAt,
          expiresAt: s.expiresAt,
          revokedAt: s.revokedAt,
        })),
        // Clients without any secret material (hash, previous hash, hint).
        oauthClients: clients.map((c) => ({
          clientId: c.clientId,
          name: c.name,
          environment: c.environment,
          type: c.type,
          redirectUris: c.redirectUris,
          scopes: c.scopes,
          grantTypes: c.grantTypes,
          firstParty: c.firstParty,
          accessTokenTtl: c.accessTokenTtl,
          refreshTokens: c.refreshTokens,
          createdAt: c.createdAt,
          updatedAt: c.updatedAt,
          revokedAt: c.revokedAt,
        })),
        grants: grants.map((g) => ({
          grantId: g.id,
          app: g.client,
          scopes: g.scopes,
          grantedAt: g.createdAt,
          updatedAt: g.updatedAt,
          lastUsedAt: g.lastUsedAt,
          revokedAt: g.revokedAt,
        })),
        auditEvents: events.map((e) => ({
          id: e.id,
          at: e.at,
          action: e.action,
          app: e.client,
          grantId: e.grantId,
          detail: e.detail,
        })),
      };
    },
    { isolationLevel: "RepeatableRead", timeout: 60_000 },
  );
}

export type AccountExport = Awaited<ReturnType<typeof exportAccount>>;
