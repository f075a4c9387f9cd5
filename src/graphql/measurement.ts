import type { Measurement, MeasurementType as MeasurementTypeName } from "../generated/prisma/client.ts";
import { recordAudit } from "../audit/audit.ts";
import { transaction } from "../db/changes.ts";
import { recordWebhookEvent } from "../webhooks/events.ts";
import { builder, type GraphQLContext } from "./builder.ts";
import { invalidInput, notFound } from "../lib/errors.ts";
import type { Position } from "../lib/cursor.ts";
import { connectionType, pageCost, resolvePage } from "./connection.ts";
import { UserRef } from "./user.ts";

/** The unit each type is recorded in, and the range a real reading falls in. */
export const MEASUREMENT_RULES: Record<MeasurementTypeName, { unit: string; min: number; max: number; integer?: boolean }> = {
  HEART_RATE: { unit: "bpm", min: 20, max: 250 },
  STEPS: { unit: "count", min: 0, max: 100_000, integer: true },
  BODY_TEMPERATURE: { unit: "celsius", min: 30, max: 45 },
  RESPIRATION_RATE: { unit: "breaths/min", min: 4, max: 60 },
  OXYGEN_SATURATION: { unit: "percent", min: 50, max: 100 },
  WEIGHT: { unit: "kg", min: 1, max: 500 },
};

// A device clock may run a little ahead of ours.
const FUTURE_TOLERANCE_MS = 5 * 60 * 1000;
const EARLIEST = new Date("1900-01-01T00:00:00Z");

export const MeasurementTypeEnum = builder.enumType("MeasurementType", {
  values: Object.keys(MEASUREMENT_RULES) as MeasurementTypeName[],
});

export const MeasurementRef = builder.prismaObject("Measurement", {
  authScopes: { dataRead: true, dataWrite: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    type: t.expose("type", { type: MeasurementTypeEnum, authScopes: { dataRead: true } }),
    value: t.exposeFloat("value", { authScopes: { dataRead: true } }),
    unit: t.exposeString("unit", { authScopes: { dataRead: true } }),
    recordedAt: t.expose("recordedAt", { type: "DateTime", authScopes: { dataRead: true } }),
  }),
});

const MeasurementConnectionRef = connectionType("Measurement", MeasurementRef, { dataRead: true });

builder.objectField(UserRef, "measurements", (t) =>
  t.field({
    type: MeasurementConnectionRef,
    description: "Health measurements, newest first; optionally of one type, recorded from `from` (inclusive) to `to` (exclusive).",
    authScopes: { dataRead: true },
    args: {
      first: t.arg.int(),
      after: t.arg.string(),
      type: t.arg({ type: MeasurementTypeEnum }),
      from: t.arg({ type: "DateTime" }),
      to: t.arg({ type: "DateTime" }),
    },
    complexity: pageCost,
    resolve: (user, args, ctx) => {
      const filter: MeasurementFilter = { type: args.type ?? null, from: args.from ?? null, to: args.to ?? null };
      if (filter.from && filter.to && filter.from >= filter.to) throw invalidInput("from", "from must be before to.");
      return resolvePage(
        args,
        (m: Measurement) => ({ at: m.recordedAt, id: m.id }),
        (limit, after) => measurementPage(ctx, user.id, limit, after, filter),
      );
    },
  }),
);

interface MeasurementFilter {
  type: MeasurementTypeName | null;
  from: Date | null;
  to: Date | null;
}

/**
 * One page of a user's measurements, newest first, strictly after `cursor`.
 * The hottest read of the API: plain SQL on the pool (the same (userId,
 * recordedAt, id) index as before), because Prisma's query compiler cost more
 * CPU per page than the database does (bench/RESULTS.md). Without a filter the
 * statement is exactly the one measured there.
 */
async function measurementPage(
  ctx: GraphQLContext,
  userId: string,
  limit: number,
  cursor: Position | null,
  filter: MeasurementFilter,
): Promise<Measurement[]> {
  const columns = `"id", "userId", "type"::text AS "type", "value", "unit",
    ("recordedAt" AT TIME ZONE 'UTC') AS "recordedAt", ("createdAt" AT TIME ZONE 'UTC') AS "createdAt",
    ("updatedAt" AT TIME ZONE 'UTC') AS "updatedAt"`;
  const values: unknown[] = [userId];
  const where = [`"userId" = $1`];
  if (cursor) {
    values.push(cursor.at.toISOString(), cursor.id);
    where.push(`("recordedAt", "id") < (($${values.length - 1}::timestamptz AT TIME ZONE 'UTC'), $${values.length})`);
  }
  if (filter.type) {
    values.push(filter.type);
    where.push(`"type" = $${values.length}::"MeasurementType"`);
  }
  if (filter.from) {
    values.push(filter.from.toISOString());
    where.push(`"recordedAt" >= ($${values.length}::timestamptz AT TIME ZONE 'UTC')`);
  }
  if (filter.to) {
    values.push(filter.to.toISOString());
    where.push(`"recordedAt" < ($${values.length}::timestamptz AT TIME ZONE 'UTC')`);
  }
  values.push(limit);
  return ctx.sql<Measurement>(
    `SELECT ${columns} FROM "Measurement" WHERE ${where.join(" AND ")} ORDER BY "recordedAt" DESC, "id" DESC LIMIT $${values.length}`,
    values,
  );
}

const RecordMeasurementInput = builder.inputType("RecordMeasurementInput", {
  fields: (t) => ({
    type: t.field({ type: MeasurementTypeEnum, required: true }),
    value: t.float({ required: true }),
    unit: t.string({ required: true }),
    recordedAt: t.field({ type: "DateTime", required: true }),
  }),
});

type MeasurementInput = { type: MeasurementTypeName; value: number; unit: string; recordedAt: Date };

/** Throws BAD_USER_INPUT naming the field at fault. */
export function checkMeasurement(input: MeasurementInput, now = Date.now()): MeasurementInput {
  const rule = MEASUREMENT_RULES[input.type];
  if (!rule) throw invalidInput("input.type", `Unknown measurement type ${input.type}.`);
  if (!Number.isFinite(input.value)) throw invalidInput("input.value", "value must be a finite number.");
  if (rule.integer && !Number.isInteger(input.value)) throw invalidInput("input.value", `${input.type} must be a whole number.`);
  if (input.value < rule.min || input.value > rule.max) {
    throw invalidInput("input.value", `${input.type} must be between ${rule.min} and ${rule.max} ${rule.unit}.`);
  }
  if (input.unit !== rule.unit) throw invalidInput("input.unit", `${input.type} is recorded in ${rule.unit}, not ${input.unit}.`);
  const at = input.recordedAt.getTime();
  if (at > now + FUTURE_TOLERANCE_MS) throw invalidInput("input.recordedAt", "recordedAt must not be in the future.");
  if (at < EARLIEST.getTime()) throw invalidInput("input.recordedAt", "recordedAt is too far in the past.");
  return input;
}

function actingUser(ctx: GraphQLContext): string {
  if (ctx.viewer.kind === "anonymous") throw new Error("unreachable: scope rules admit no anonymous viewer here");
  return ctx.viewer.userId;
}

/** Writes and their audit event commit together. */
async function writeAudited<T>(
  ctx: GraphQLContext,
  field: string,
  detail: string,
  write: (tx: Parameters<Parameters<GraphQLContext["prisma"]["$transaction"]>[0]>[0]) => Promise<T>,
): Promise<T> {
  return transaction(ctx.prisma, async (tx) => {
    const result = await write(tx);
    if (ctx.viewer.kind === "token") {
      await recordAudit(tx, {
        action: "data.written",
        userId: ctx.viewer.userId,
        clientId: ctx.viewer.clientRowId,
        grantId: ctx.viewer.grantId,
        detail: `${field}: ${detail}`,
      });
    }
    return result;
  });
}

builder.mutationField("recordMeasurement", (t) =>
  t.prismaField({
    type: "Measurement",
    authScopes: { dataWrite: true },
    args: { input: t.arg({ type: RecordMeasurementInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const userId = actingUser(ctx);
      const data = checkMeasurement(input);
      return writeAudited(ctx, "recordMeasurement", data.type, async (tx) => {
        const row = await tx.measurement.create({ data: { ...data, userId } });
        await recordWebhookEvent(tx, { type: "measurement.created", userId, measurement: row });
        return tx.measurement.findUniqueOrThrow({ ...query, where: { id: row.id } });
      });
    },
  }),
);

builder.mutationField("updateMeasurement", (t) =>
  t.prismaField({
    type: "Measurement",
    authScopes: { dataWrite: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: RecordMeasurementInput, required: true }) },
    resolve: async (query, _root, { id, input }, ctx) => {
      const userId = actingUser(ctx);
      const data = checkMeasurement(input);
      return writeAudited(ctx, "updateMeasurement", `${data.type} ${id}`, async (tx) => {
        // Scoped by user: another user's id answers exactly like an unknown one.
        const { count } = await tx.measurement.updateMany({ where: { id: String(id), userId }, data });
        if (count === 0) throw notFound("Measurement");
        const row = await tx.measurement.findUniqueOrThrow({ where: { id: String(id) } });
        await recordWebhookEvent(tx, { type: "measurement.updated", userId, measurement: row });
        return tx.measurement.findUniqueOrThrow({ ...query, where: { id: String(id) } });
      });
    },
  }),
);

builder.mutationField("deleteMeasurement", (t) =>
  t.prismaField({
    type: "Measurement",
    authScopes: { dataWrite: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (query, _root, { id }, ctx) => {
      const userId = actingUser(ctx);
      return writeAudited(ctx, "deleteMeasurement", String(id), async (tx) => {
        const row = await tx.measurement.findFirst({ ...query, where: { id: String(id), userId } });
        if (!row) throw notFound("Measurement");
        await tx.measurement.delete({ where: { id: row.id } });
        await recordWebhookEvent(tx, { type: "measurement.deleted", userId, measurementId: row.id });
        return row;
      });
    },
  }),
);
