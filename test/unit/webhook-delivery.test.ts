import { describe, expect, it } from "vitest";
import { cancelReason, DEFAULT_RETRY_SCHEDULE_MS, retryDelayMs } from "../../src/webhooks/delivery.ts";

describe("retryDelayMs", () => {
  it("follows the schedule within ±20%, and ends when it runs out", () => {
    const schedule = [1_000, 60_000];
    expect(retryDelayMs(schedule, 1, () => 0)).toBe(800);
    expect(retryDelayMs(schedule, 1, () => 1)).toBe(1_200);
    expect(retryDelayMs(schedule, 2, () => 0.5)).toBe(60_000);
    expect(retryDelayMs(schedule, 3)).toBeNull();
  });

  it("retries for at least a day by default, even with the jitter against it", () => {
    const least = DEFAULT_RETRY_SCHEDULE_MS.reduce((sum, _ms, i) => sum + retryDelayMs(DEFAULT_RETRY_SCHEDULE_MS, i + 1, () => 0)!, 0);
    expect(least).toBeGreaterThanOrEqual(86_400_000);
  });
});

describe("cancelReason", () => {
  const base = {
    id: "msg_1",
    eventType: "measurement.created",
    userId: "u1",
    grantId: "g1" as string | null,
    body: "{}",
    attempts: 1,
    endpointId: "e1",
    url: "https://hooks.example/x",
    enabled: true,
    eventTypes: ["measurement.created", "grant.revoked"],
    secret: "",
    previousSecret: null,
    previousSecretExpiresAt: null,
    failingSince: null,
    clientRowId: "c1",
    clientRevokedAt: null as Date | null,
    ownerId: "owner",
    clientScopes: ["data:read"],
    grantRevokedAt: null as Date | null,
    grantScopes: ["data:read"] as string[] | null,
  };

  it("lets through what the live grant still covers", () => {
    expect(cancelReason(base)).toBeNull();
    expect(cancelReason({ ...base, eventType: "grant.revoked", grantRevokedAt: new Date(), grantScopes: [] })).toBeNull();
  });

  it("cancels once the grant, its scope, the subscription, the endpoint or the client went away", () => {
    expect(cancelReason({ ...base, grantRevokedAt: new Date() })).toBe("the user's grant was revoked");
    expect(cancelReason({ ...base, grantScopes: null })).toBe("the user's grant was revoked");
    expect(cancelReason({ ...base, grantScopes: ["profile:read"] })).toBe("the user's grant no longer includes data:read");
    expect(cancelReason({ ...base, eventTypes: ["grant.revoked"] })).toBe("the endpoint no longer subscribes to measurement.created");
    expect(cancelReason({ ...base, enabled: false })).toBe("the endpoint is disabled");
    expect(cancelReason({ ...base, clientRevokedAt: new Date() })).toBe("the client was revoked");
  });

  it("judges the owner's own data by the client's registered scopes", () => {
    const own = { ...base, grantId: null, userId: "owner", grantScopes: null };
    expect(cancelReason(own)).toBeNull();
    expect(cancelReason({ ...own, clientScopes: ["profile:read"] })).toBe("the client is no longer registered with data:read");
    expect(cancelReason({ ...own, userId: "someone else" })).toBe("the client is no longer registered with data:read");
  });
});
