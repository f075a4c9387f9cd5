import { z } from "zod";
import { MeasurementType } from "../generated/prisma/enums.ts";

/**
 * The MCP tools: each one is a stored GraphQL operation, executed through the
 * same Yoga server, schema and scope rules as every other client (with the
 * token's viewer: the audit trail, the grant's lastUsedAt, the cost limit
 * apply). A tool only maps its arguments to the operation's variables and the
 * data to its result. `scopes` is what the token must carry to call it; the
 * schema's own rules would refuse it anyway, but knowing it up front lets the
 * endpoint answer with the step-up challenge the MCP specification asks for.
 */

/** `Data` is the shape of the operation's `data`, as each tool's operation selects it. */
export interface McpTool<Shape extends z.ZodRawShape = z.ZodRawShape, Data = unknown> {
  name: string;
  title: string;
  description: string;
  scopes: string[];
  readOnly: boolean;
  destructive?: boolean;
  input: Shape;
  operation: string;
  variables(args: z.infer<z.ZodObject<Shape>>): Record<string, unknown>;
  result(data: Data): unknown;
}

const measurementType = z.enum(Object.values(MeasurementType) as [string, ...string[]]).describe("The kind of measurement.");
const dateTime = z.iso.datetime({ offset: true });
const measurementFields = {
  type: measurementType,
  value: z.number().describe("The reading, in the unit below."),
  unit: z.string().describe("bpm (HEART_RATE), count (STEPS), celsius, breaths/min, percent (OXYGEN_SATURATION), kg (WEIGHT)."),
  recordedAt: dateTime.describe("When it was measured (ISO 8601 with offset); not in the future."),
};
const MEASUREMENT = "id type value unit recordedAt";
interface MeasurementPage {
  edges: { node: unknown }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

const tool = <Shape extends z.ZodRawShape, Data>(t: McpTool<Shape, Data>): McpTool => t as unknown as McpTool;

export const MCP_TOOLS: McpTool[] = [
  tool({
    name: "get_profile",
    title: "Read the profile",
    description: "The user's scopegate profile: id, name, email address and date of birth.",
    scopes: ["profile:read"],
    readOnly: true,
    input: {},
    operation: "query McpProfile { me { id name email birthDate } }",
    variables: () => ({}),
    result: (data: { me: unknown }) => data.me,
  }),
  tool({
    name: "list_measurements",
    title: "List health measurements",
    description:
      "The user's health measurements, newest first, optionally of one type and within a time range. " +
      "Pages: pass the returned nextCursor as `after` for more.",
    scopes: ["data:read"],
    readOnly: true,
    input: {
      type: measurementType.optional(),
      from: dateTime.optional().describe("Only those recorded at or after this time (ISO 8601)."),
      to: dateTime.optional().describe("Only those recorded before this time (ISO 8601)."),
      first: z.number().int().min(1).max(100).optional().describe("How many (1 to 100, default 20)."),
      after: z.string().max(500).optional().describe("nextCursor from the previous page."),
    },
    operation: `query McpMeasurements($first: Int, $after: String, $type: MeasurementType, $from: DateTime, $to: DateTime) {
      me { measurements(first: $first, after: $after, type: $type, from: $from, to: $to) {
        edges { node { ${MEASUREMENT} } } pageInfo { hasNextPage endCursor } } } }`,
    variables: (a) => ({ first: a.first, after: a.after, type: a.type, from: a.from, to: a.to }),
    result: (data: { me: { measurements: MeasurementPage } }) => {
      const page = data.me.measurements;
      return {
        measurements: page.edges.map((e) => e.node),
        nextCursor: page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null,
      };
    },
  }),
  tool({
    name: "record_measurement",
    title: "Record a measurement",
    description: "Adds a health measurement to the user's data.",
    scopes: ["data:write"],
    readOnly: false,
    input: measurementFields,
    operation: `mutation McpRecord($input: RecordMeasurementInput!) { recordMeasurement(input: $input) { ${MEASUREMENT} } }`,
    variables: (a) => ({ input: { type: a.type, value: a.value, unit: a.unit, recordedAt: a.recordedAt } }),
    result: (data: { recordMeasurement: unknown }) => data.recordMeasurement,
  }),
  tool({
    name: "update_measurement",
    title: "Correct a measurement",
    description: "Replaces a measurement's type, value, unit and time.",
    scopes: ["data:write"],
    readOnly: false,
    input: { id: z.string().max(100).describe("The measurement's id."), ...measurementFields },
    operation: `mutation McpUpdate($id: ID!, $input: RecordMeasurementInput!) { updateMeasurement(id: $id, input: $input) { ${MEASUREMENT} } }`,
    variables: (a) => ({ id: a.id, input: { type: a.type, value: a.value, unit: a.unit, recordedAt: a.recordedAt } }),
    result: (data: { updateMeasurement: unknown }) => data.updateMeasurement,
  }),
  tool({
    name: "delete_measurement",
    title: "Delete a measurement",
    description: "Deletes one of the user's measurements.",
    scopes: ["data:write"],
    readOnly: false,
    destructive: true,
    input: { id: z.string().max(100).describe("The measurement's id.") },
    operation: `mutation McpDelete($id: ID!) { deleteMeasurement(id: $id) { ${MEASUREMENT} } }`,
    variables: (a) => ({ id: a.id }),
    result: (data: { deleteMeasurement: unknown }) => data.deleteMeasurement,
  }),
];

export function findTool(name: unknown): McpTool | undefined {
  return MCP_TOOLS.find((t) => t.name === name);
}
