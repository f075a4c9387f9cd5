import { describe, expect, it } from "vitest";
import type { Change, ChangeKind } from "../../src/db/changes.ts";
import { NARROWING_MARGIN_S, RevocationView, type TokenFacts } from "../../src/oauth/revocation-view.ts";

const NOW = Date.UTC(2026, 10, 30, 12, 0, 0);
const HOUR = 3_600_000;
let seq = 0n;
function change(kind: ChangeKind, subject: string, extra: Partial<Change> = {}): Change {
  return { seq: ++seq, at: new Date(NOW), kind, subject, clientId: null, scopes: [], expiresAt: new Date(NOW + HOUR), ...extra };
}
const token = (extra: Partial<TokenFacts> = {}): TokenFacts => ({
  jti: "jti-1",
  sub: "user-1",
  clientRowId: "client-1",
  grantId: "grant-1",
  scopes: ["data:read", "profile:read"],
  iat: NOW / 1000 - 10,
  ...extra,
});

describe("RevocationView", () => {
  it("admits a token nothing revoked", () => {
    expect(new RevocationView().refusal(token(), NOW)).toBeNull();
  });

  it.each([
    ["token.revoked", "jti-1"],
    ["grant.revoked", "grant-1"],
    ["client.revoked", "client-1"],
    ["user.deleted", "user-1"],
  ] as const)("%s ends the token it names, and nothing else", (kind, subject) => {
    const view = new RevocationView();
    view.apply([change(kind, subject)]);
    expect(view.refusal(token(), NOW)).toMatch(/revoked|deleted/);
    expect(view.refusal(token({ jti: "j2", sub: "u2", clientRowId: "c2", grantId: "g2" }), NOW)).toBeNull();
  });

  it("a client_credentials token (no grant) is not caught by a grant rule", () => {
    const view = new RevocationView();
    view.apply([change("grant.revoked", "grant-1")]);
    expect(view.refusal(token({ grantId: null }), NOW)).toBeNull();
  });

  it("narrowing ends tokens issued up to the change (with a margin) that carry a removed scope", () => {
    const view = new RevocationView();
    view.apply([change("grant.narrowed", "grant-1", { scopes: ["profile:read"] })]);
    expect(view.refusal(token(), NOW)).toMatch(/permission/);
    expect(view.refusal(token({ scopes: ["data:read"] }), NOW)).toBeNull();
    expect(view.refusal(token({ iat: NOW / 1000 + NARROWING_MARGIN_S }), NOW)).not.toBeNull();
    // A later token carrying the scope again comes from a new consent.
    expect(view.refusal(token({ iat: NOW / 1000 + NARROWING_MARGIN_S + 1 }), NOW)).toBeNull();
  });

  it("a client losing a scope ends its tokens carrying it; a client change without removed scopes ends nothing", () => {
    const view = new RevocationView();
    view.apply([change("client.changed", "client-1")]);
    expect(view.refusal(token(), NOW)).toBeNull();
    view.apply([change("client.changed", "client-1", { scopes: ["data:read"] })]);
    expect(view.refusal(token({ grantId: null }), NOW)).toMatch(/removed from its client/);
  });

  it("applying a change twice is harmless, and rules are forgotten once their tokens have expired", () => {
    const view = new RevocationView();
    const c = change("token.revoked", "jti-1");
    view.apply([c, c]);
    view.apply([change("grant.narrowed", "grant-1", { scopes: ["data:read"] })]);
    view.apply([change("grant.narrowed", "grant-1", { scopes: ["data:read"] })]);
    expect(view.size()).toBe(2);
    expect(view.refusal(token(), NOW + 2 * HOUR)).toBeNull();
    expect(view.size()).toBe(0);
  });
});
