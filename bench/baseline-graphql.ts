import http from "node:http";
import type { AddressInfo } from "node:net";
import { createSchema, createYoga } from "graphql-yoga";

/** The document every GraphQL server in the benchmark answers, for n items. */
export function measurementsQuery(n: number): string {
  return `{ me { measurements(first: ${n}) { edges { node { id type value unit recordedAt } } } } }`;
}

export interface StaticMeasurement {
  id: string;
  type: string;
  value: number;
  unit: string;
  recordedAt: Date;
}

/**
 * A bare graphql-yoga server (default settings, no plugins) with a schema of the
 * same shape as scopegate's for this query, answering the first `first` of a
 * constant array:
 * no authentication, no scope rules, no database, no audit. What scopegate
 * costs on top of this is what its auth, its database and its plugins cost.
 */
export async function startBaselineGraphQL(rows: StaticMeasurement[]): Promise<{ name: string; url: string; stop(): Promise<void> }> {
  const edges = rows.map((node) => ({ node }));
  const yoga = createYoga({
    graphqlEndpoint: "/graphql",
    logging: false,
    graphiql: false,
    landingPage: false,
    schema: createSchema({
      typeDefs: /* GraphQL */ `
        scalar DateTime
        enum MeasurementType { HEART_RATE STEPS BODY_TEMPERATURE RESPIRATION_RATE OXYGEN_SATURATION WEIGHT }
        type Measurement { id: ID! type: MeasurementType value: Float unit: String recordedAt: DateTime }
        type MeasurementEdge { cursor: String! node: Measurement! }
        type MeasurementConnection { edges: [MeasurementEdge!]! }
        type User { id: ID! measurements(first: Int, after: String): MeasurementConnection }
        type Query { me: User }
      `,
      resolvers: {
        DateTime: {
          serialize: (v: unknown) => (v instanceof Date ? v.toISOString() : v),
        },
        Query: { me: () => ({ id: "baseline-user" }) },
        User: { measurements: (_user: unknown, args: { first?: number | null }) => ({ edges: edges.slice(0, args.first ?? 20) }) },
        MeasurementEdge: { cursor: (e: { node: StaticMeasurement }) => e.node.id },
      },
    }),
  });
  const server = http.createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    name: "bare graphql-yoga",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
