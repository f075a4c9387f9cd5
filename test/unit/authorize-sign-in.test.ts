import { describe, expect, it } from "vitest";
import { checkLoginMarker, LOGIN_MARKER } from "../../src/oauth/authorize/check-login-marker.ts";
import { checkMaxAge } from "../../src/oauth/authorize/check-max-age.ts";
import { AuthorizeError, collectParams, newContext, type AuthorizeCheck } from "../../src/oauth/authorize/context.ts";
import { signInStep } from "../../src/oauth/authorize/sign-in.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const NOW_MS = NOW.getTime();
const secondsAgo = (s: number) => ({ createdAt: new Date(NOW.getTime() - s * 1000) });
const QUERY = "client_id=sgc_app&scope=openid+data%3Aread&state=st";

function run(check: AuthorizeCheck, entries: [string, string][]) {
  const ctx = newContext({ params: collectParams(entries), now: NOW, findClient: async () => null });
  try {
    check(ctx);
    return { ctx, err: undefined };
  } catch (err) {
    if (!(err instanceof AuthorizeError)) throw err;
    return { ctx, err };
  }
}

type Req = { prompt: Set<string>; maxAge: number | undefined; signedInAfter: number | undefined };
const req = (over: Partial<Omit<Req, "prompt">> & { prompt?: string[] } = {}): Req => ({
  prompt: new Set(over.prompt ?? []),
  maxAge: over.maxAge,
  signedInAfter: over.signedInAfter,
});

describe("checkMaxAge (after the redirect URI: errors go back to the app)", () => {
  it("keeps a whole number of seconds, 0 included", () => {
    for (const [value, seconds] of [
      ["0", 0],
      ["1", 1],
      ["3600", 3600],
      ["0000000060", 60],
      ["9999999999", 9_999_999_999],
    ] as const) {
      const { ctx, err } = run(checkMaxAge, [["max_age", value]]);
      expect(err, value).toBeUndefined();
      expect(ctx.maxAge).toBe(seconds);
    }
    expect(run(checkMaxAge, []).ctx.maxAge).toBeUndefined();
  });

  it("refuses anything else with invalid_request", () => {
    for (const value of ["", "-1", "1.5", "1e3", " 60", "60s", "0x10", "12345678901", "∞"]) {
      const { ctx, err } = run(checkMaxAge, [["max_age", value]]);
      expect(err, value).toMatchObject({ error: "invalid_request", description: expect.stringMatching(/max_age/) });
      expect(ctx.maxAge).toBeUndefined();
    }
  });
});

describe("checkLoginMarker", () => {
  it("keeps a time this server could have set, in milliseconds (up to a minute ahead of its clock)", () => {
    for (const at of [0, NOW_MS - 3600_000, NOW_MS, NOW_MS + 60_000]) {
      const { ctx, err } = run(checkLoginMarker, [[LOGIN_MARKER, String(at)]]);
      expect(err, String(at)).toBeUndefined();
      expect(ctx.signedInAfter).toBe(at);
    }
  });

  it("refuses a malformed marker, or one in the future that no sign-in could ever meet", () => {
    for (const value of ["", "abc", "-5", "1.5", String(NOW_MS + 60_001), "9999999999999", "1".repeat(16)]) {
      expect(run(checkLoginMarker, [[LOGIN_MARKER, value]]).err, value).toMatchObject({ error: "invalid_request" });
    }
  });
});

describe("signInStep: is the user's sign-in good enough for this request?", () => {
  it("no session: sign in and come back to the request as it was sent; prompt=none → login_required", () => {
    expect(signInStep(req(), null, NOW, QUERY)).toEqual({ kind: "sign-in", reauthenticate: false, returnQuery: QUERY });
    const refused = signInStep(req({ prompt: ["none"] }), null, NOW, QUERY);
    expect(refused).toMatchObject({ kind: "refused", error: { error: "login_required" } });
  });

  it("a session with no prompt or max_age: go on, whatever its age", () => {
    const session = secondsAgo(30 * 24 * 3600);
    expect(signInStep(req(), session, NOW, QUERY)).toEqual({ kind: "signed-in", session });
    expect(signInStep(req({ prompt: ["none"] }), session, NOW, QUERY)).toEqual({ kind: "signed-in", session });
    expect(signInStep(req({ prompt: ["consent"] }), session, NOW, QUERY)).toEqual({ kind: "signed-in", session });
  });

  it("prompt=login: sign in again even with a brand-new session; come back without login in prompt and with a marker", () => {
    const step = signInStep(req({ prompt: ["login", "consent"] }), secondsAgo(0), NOW, `${QUERY}&prompt=login+consent`);
    expect(step).toMatchObject({ kind: "sign-in", reauthenticate: true });
    if (step.kind !== "sign-in") return;
    const back = new URLSearchParams(step.returnQuery);
    expect(back.get("prompt")).toBe("consent");
    expect(back.get(LOGIN_MARKER)).toBe(String(NOW_MS));
    expect(back.get("client_id")).toBe("sgc_app");
    expect(back.get("state")).toBe("st");

    const alone = signInStep(req({ prompt: ["login"] }), secondsAgo(0), NOW, `${QUERY}&prompt=login`);
    if (alone.kind !== "sign-in") throw new Error("expected sign-in");
    expect(new URLSearchParams(alone.returnQuery).has("prompt")).toBe(false);

    // Signed out with prompt=login: the same return path, so that one sign-in is enough.
    const signedOut = signInStep(req({ prompt: ["login"] }), null, NOW, `${QUERY}&prompt=login`);
    expect(signedOut).toMatchObject({ kind: "sign-in", reauthenticate: false });
    if (signedOut.kind === "sign-in") expect(new URLSearchParams(signedOut.returnQuery).get(LOGIN_MARKER)).toBe(String(NOW_MS));
  });

  it("back from signing in: a sign-in at or after the marker goes on; an older one (the sign-in was skipped) is sent again", () => {
    const marker = NOW_MS - 20_000;
    const fresh = secondsAgo(10);
    expect(signInStep(req({ signedInAfter: marker }), fresh, NOW, QUERY)).toEqual({ kind: "signed-in", session: fresh });
    expect(signInStep(req({ signedInAfter: marker }), secondsAgo(20), NOW, QUERY)).toMatchObject({ kind: "signed-in" });
    // A session begun in the same second, but before the marker, is not the sign-in asked for.
    expect(signInStep(req({ signedInAfter: marker }), secondsAgo(20.001), NOW, QUERY)).toMatchObject({ kind: "sign-in" });
    const skipped = signInStep(req({ signedInAfter: marker }), secondsAgo(21), NOW, `${QUERY}&${LOGIN_MARKER}=${marker}`);
    expect(skipped).toEqual({ kind: "sign-in", reauthenticate: true, returnQuery: `${QUERY}&${LOGIN_MARKER}=${marker}` });
    expect(signInStep(req({ signedInAfter: marker, prompt: ["none"] }), secondsAgo(21), NOW, QUERY)).toMatchObject({
      kind: "refused",
      error: { error: "login_required" },
    });
  });

  it("max_age: a sign-in up to that many seconds old goes on; older signs in again (prompt=none → login_required)", () => {
    expect(signInStep(req({ maxAge: 300 }), secondsAgo(300), NOW, QUERY)).toMatchObject({ kind: "signed-in" });
    const stale = signInStep(req({ maxAge: 300 }), secondsAgo(301), NOW, `${QUERY}&max_age=300`);
    expect(stale).toMatchObject({ kind: "sign-in", reauthenticate: true });
    if (stale.kind === "sign-in") {
      const back = new URLSearchParams(stale.returnQuery);
      expect(back.get("max_age")).toBe("300");
      expect(back.get(LOGIN_MARKER)).toBe(String(NOW_MS));
    }
    expect(signInStep(req({ maxAge: 300, prompt: ["none"] }), secondsAgo(301), NOW, QUERY)).toMatchObject({
      kind: "refused",
      error: { error: "login_required", description: expect.stringMatching(/max_age/) },
    });
  });

  it("max_age=0 asks every time, and the sign-in made for this request then counts for a short while", () => {
    // Even a sign-in from this very second: max_age=0 is prompt=login (OIDC Core §3.1.2.1).
    expect(signInStep(req({ maxAge: 0 }), secondsAgo(0), NOW, QUERY)).toMatchObject({ kind: "sign-in", reauthenticate: true });
    expect(signInStep(req({ maxAge: 0 }), secondsAgo(1), NOW, QUERY)).toMatchObject({ kind: "sign-in", reauthenticate: true });
    // Back from the sign-in it asked for, a few seconds later: go on.
    expect(signInStep(req({ maxAge: 0, signedInAfter: NOW_MS - 30_000 }), secondsAgo(5), NOW, QUERY)).toMatchObject({ kind: "signed-in" });
    // But a marker does not make an old sign-in young.
    expect(signInStep(req({ maxAge: 60, signedInAfter: NOW_MS - 3600_000 }), secondsAgo(600), NOW, QUERY)).toMatchObject({
      kind: "sign-in",
    });
  });
});
