import { builder } from "./builder.ts";
import { UserRef } from "./user.ts";

// Workout sessions and GPS points: account-only data. No OAuth scope opens them.

// What these lists return at most, and so how many times what is selected under them
// counts in a query's cost (limits.ts). A session's track has no bound: it counts as
// any other unbounded list (DEFAULT_LIST_MULTIPLIER; the demo's have 12 points).
const SESSIONS_LISTED = 100;
const LOCATIONS_LISTED = 1000;

export const LocationRef = builder.prismaObject("Location", {
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    latitude: t.exposeFloat("latitude", { nullable: false }),
    longitude: t.exposeFloat("longitude", { nullable: false }),
    recordedAt: t.expose("recordedAt", { type: "DateTime", nullable: false }),
  }),
});

export const SessionRef = builder.prismaObject("Session", {
  description: "A workout session.",
  authScopes: { account: true },
  fields: (t) => ({
    id: t.exposeID("id", { nullable: false }),
    activity: t.exposeString("activity", { nullable: false }),
    startedAt: t.expose("startedAt", { type: "DateTime", nullable: false }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: false }),
    distanceMeters: t.exposeFloat("distanceMeters"),
    calories: t.exposeFloat("calories"),
    locations: t.relation("locations", {
      nullable: false,
      query: { orderBy: { recordedAt: "asc" } },
    }),
  }),
});

builder.prismaObjectField(UserRef, "sessions", (t) =>
  t.relation("sessions", {
    description: "Workout sessions, newest first (account session only).",
    authScopes: { account: true },
    query: { orderBy: { startedAt: "desc" }, take: SESSIONS_LISTED },
    complexity: { field: 1, multiplier: SESSIONS_LISTED },
  }),
);

builder.prismaObjectField(UserRef, "locations", (t) =>
  t.relation("locations", {
    description: "GPS points, newest first (account session only).",
    authScopes: { account: true },
    query: { orderBy: { recordedAt: "desc" }, take: LOCATIONS_LISTED },
    complexity: { field: 1, multiplier: LOCATIONS_LISTED },
  }),
);
