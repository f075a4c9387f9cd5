import { randomBytes, randomInt } from "node:crypto";
import type { Db, DbTx } from "../db/index.ts";
import type { MeasurementType } from "../generated/prisma/client.ts";
import { hashPassword } from "../accounts/passwords.ts";
import { insertClient } from "../clients/clients.ts";

export interface DemoCredentials {
  user: { email: string; password: string };
  admin: { email: string; password: string };
  client: { clientId: string; clientSecret: string; redirectUri: string };
  firstPartyClient: { clientId: string; clientSecret: string };
}

const DAY = 24 * 3600 * 1000;

/** Readable, random, and long enough: four groups of five letters and digits. */
function demoPassword(): string {
  const alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
  const bytes = randomBytes(20);
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]);
  return [0, 5, 10, 15].map((i) => chars.slice(i, i + 5).join("")).join("-");
}

/** A week or two of plausible readings for one user, newest now. */
export function demoMeasurements(userId: string, now = Date.now()) {
  const rows: { userId: string; type: MeasurementType; value: number; unit: string; recordedAt: Date }[] = [];
  const jitter = (base: number, spread: number, digits = 0) => Number((base + (Math.random() * 2 - 1) * spread).toFixed(digits));
  for (let day = 13; day >= 0; day--) {
    const dayStart = now - day * DAY;
    for (const hour of [7, 12, 18, 22]) {
      const at = new Date(dayStart - (24 - hour) * 3600 * 1000 + randomInt(0, 1800) * 1000);
      if (at.getTime() > now) continue;
      rows.push({ userId, type: "HEART_RATE", value: jitter(66, 12), unit: "bpm", recordedAt: at });
    }
    const evening = new Date(dayStart - 2 * 3600 * 1000);
    rows.push({ userId, type: "STEPS", value: jitter(8200, 3500), unit: "count", recordedAt: evening });
    const morning = new Date(dayStart - 17 * 3600 * 1000);
    rows.push({ userId, type: "WEIGHT", value: jitter(72.4, 0.6, 1), unit: "kg", recordedAt: morning });
    rows.push({ userId, type: "BODY_TEMPERATURE", value: jitter(36.7, 0.3, 1), unit: "celsius", recordedAt: morning });
    rows.push({ userId, type: "RESPIRATION_RATE", value: jitter(15, 2), unit: "breaths/min", recordedAt: morning });
    rows.push({ userId, type: "OXYGEN_SATURATION", value: jitter(97.5, 1.2, 1), unit: "percent", recordedAt: morning });
  }
  return rows;
}

/** Workout sessions with a GPS track each (account-only data). */
export async function seedDemoActivity(prisma: DbTx, userId: string, now = Date.now()): Promise<void> {
  // A loop around a park: start point and small steps.
  const start = { lat: 52.5145, lon: 13.3501 };
  for (const [i, activity] of ["run", "ride", "run", "walk"].entries()) {
    const startedAt = new Date(now - (i * 3 + 1) * DAY - 2 * 3600 * 1000);
    const minutes = activity === "ride" ? 75 : activity === "walk" ? 40 : 32;
    const session = await prisma.session.create({
      data: {
        userId,
        activity,
        startedAt,
        endedAt: new Date(startedAt.getTime() + minutes * 60_000),
        distanceMeters: activity === "ride" ? 24_300 : activity === "walk" ? 3_100 : 5_600,
        calories: activity === "ride" ? 640 : activity === "walk" ? 160 : 410,
      },
    });
    await prisma.location.createMany({
      data: Array.from({ length: 12 }, (_, k) => ({
        userId,
        sessionId: session.id,
        latitude: Number((start.lat + 0.004 * Math.sin((k / 12) * 2 * Math.PI)).toFixed(6)),
        longitude: Number((start.lon + 0.006 * Math.cos((k / 12) * 2 * Math.PI)).toFixed(6)),
        recordedAt: new Date(startedAt.getTime() + (k * minutes * 60_000) / 12),
      })),
    });
  }
}

/** Real-looking measurements, sessions and locations for a new account (demo mode). */
export async function seedUserData(prisma: Db, userId: string): Promise<void> {
  await prisma.$transaction(async (tx) => {
    await tx.measurement.createMany({ data: demoMeasurements(userId) });
    await seedDemoActivity(tx, userId);
  });
}

/**
 * Seeds a first start: a demo user with data, an administrator, a demo
 * confidential client and a first-party client. Does nothing (returns null)
 * when the database already has users, so a restart never seeds twice.
 */
export async function seedDemo(prisma: Db, issuer: string): Promise<DemoCredentials | null> {
  if ((await prisma.user.count()) > 0) return null;
  const userPassword = demoPassword();
  const adminPassword = demoPassword();
  const [userHash, adminHash] = await Promise.all([hashPassword(userPassword), hashPassword(adminPassword)]);
  const redirectUri = "http://localhost:3000/callback";
  // One transaction: a crash half-way leaves no users, so the next start seeds again.
  return prisma.$transaction(
    async (tx) => {
      const user = await tx.user.create({
        data: {
          email: "demo@scopegate.local",
          name: "Dana Demo",
          birthDate: new Date("1988-04-12"),
          passwordHash: userHash,
        },
      });
      const admin = await tx.user.create({
        data: {
          email: "admin@scopegate.local",
          name: "Ada Admin",
          isAdmin: true,
          passwordHash: adminHash,
        },
      });
      await tx.measurement.createMany({ data: demoMeasurements(user.id) });
      await seedDemoActivity(tx, user.id);

      const demo = await insertClient(tx, {
        ownerId: user.id,
        name: "Demo Partner App",
        environment: "DEVELOPMENT",
        type: "CONFIDENTIAL",
        redirectUris: [redirectUri],
        scopes: ["profile:read", "data:read", "data:write"],
      });
      const firstParty = await insertClient(tx, {
        ownerId: admin.id,
        name: "scopegate Web",
        environment: "PRODUCTION",
        type: "CONFIDENTIAL",
        redirectUris: [`${issuer}/callback`],
        scopes: ["profile:read", "data:read", "data:write"],
        firstParty: true,
      });
      return {
        user: { email: user.email, password: userPassword },
        admin: { email: admin.email, password: adminPassword },
        client: { clientId: demo.client.clientId, clientSecret: demo.clientSecret!, redirectUri },
        firstPartyClient: { clientId: firstParty.client.clientId, clientSecret: firstParty.clientSecret! },
      };
    },
    { timeout: 30_000 },
  );
}
