import { describe, expect, it } from "vitest";
import { allowedScopes, consentRequired, consentScopes, grantCovers, maySkipConsent } from "../../src/oauth/authorize/consent.ts";
import { readConsentForm, TICKED_SCOPE_FIELD } from "../../src/oauth/authorize/consent-form.ts";
import { Form } from "../../src/lib/form.ts";
import { authorizationResponseUrl, signInPath } from "../../src/oauth/authorize/response.ts";

const ISSUER = "https://id.example";

describe("whether to ask for consent", () => {
  const req = (scopes: string[], prompt: string[] = [], firstParty = false) => ({
    scopes,
    prompt: new Set(prompt),
    client: { firstParty },
  });

  it("skips the page when an earlier grant covers every scope, or for a first-party client; never with prompt=consent", () => {
    const grant = { scopes: ["openid", "data:read"] };
    expect(maySkipConsent(req(["data:read"]), grant)).toBe(true);
    expect(maySkipConsent(req(["openid", "data:read"]), grant)).toBe(true);
    expect(maySkipConsent(req(["data:read", "profile:read"]), grant)).toBe(false);
    expect(maySkipConsent(req(["data:read"]), null)).toBe(false);
    expect(maySkipConsent(req(["data:read"], [], true), null)).toBe(true);
    expect(maySkipConsent(req(["data:read"], ["consent"]), grant)).toBe(false);
    expect(maySkipConsent(req(["data:read"], ["consent"], true), null)).toBe(false);
    expect(maySkipConsent(req(["data:read"], ["none"]), grant)).toBe(true);
  });

  it("grantCovers needs a grant holding every scope", () => {
    expect(grantCovers(null, ["data:read"])).toBe(false);
    expect(grantCovers({ scopes: ["data:read"] }, ["data:read"])).toBe(true);
    expect(grantCovers({ scopes: ["data:read"] }, ["data:read", "openid"])).toBe(false);
  });

  it("prompt=none when the page would be needed: consent_required, sent back to the app", () => {
    expect(consentRequired()).toMatchObject({ error: "consent_required", description: expect.any(String) });
  });
});

describe("the consent page's list", () => {
  it("no earlier grant: data scopes are ticked checkboxes, protocol scopes have none, nothing is new", () => {
    expect(consentScopes({ scopes: ["openid", "profile:read", "data:read", "offline_access"] }, null)).toEqual([
      { scope: "openid", description: "Know who you are (your scopegate user ID)", choice: "always", isNew: false, ticked: true },
      {
        scope: "profile:read",
        description: "See your name, email address and date of birth",
        choice: "choose",
        isNew: false,
        ticked: true,
      },
      { scope: "data:read", description: "Read your health measurements", choice: "choose", isNew: false, ticked: true },
      { scope: "offline_access", description: "Keep access when you are not using the app", choice: "always", isNew: false, ticked: true },
    ]);
  });

  it("with an earlier grant: what it holds is fixed, the rest marked new; shown again, the user's ticks are kept", () => {
    const list = consentScopes({ scopes: ["data:read", "profile:read", "openid"] }, { scopes: ["data:read"] }, new Set(["data:read"]));
    expect(list.map(({ scope, choice, isNew, ticked }) => ({ scope, choice, isNew, ticked }))).toEqual([
      { scope: "data:read", choice: "granted", isNew: false, ticked: true },
      { scope: "profile:read", choice: "choose", isNew: true, ticked: false },
      { scope: "openid", choice: "always", isNew: true, ticked: false },
    ]);
  });
});

describe("what Allow grants", () => {
  const req = { scopes: ["openid", "offline_access", "profile:read", "data:read"] };

  it("the protocol scopes asked for, what was granted before and what is ticked now; nothing else", () => {
    expect(allowedScopes(req, null, new Set(["data:read"]))).toEqual(["openid", "offline_access", "data:read"]);
    expect(allowedScopes(req, { scopes: ["profile:read"] }, new Set())).toEqual(["openid", "offline_access", "profile:read"]);
    // A tick for a scope that was not requested grants nothing.
    expect(allowedScopes({ scopes: ["data:read"] }, null, new Set(["data:write", "profile:read"]))).toEqual([]);
    expect(allowedScopes({ scopes: ["data:read"] }, null, new Set())).toEqual([]);
  });
});

describe("reading the consent form", () => {
  it("splits the form's controls from the request's hidden fields", () => {
    const body = new URLSearchParams([
      ["csrf", "tok"],
      ["client_id", "sgc_app"],
      [TICKED_SCOPE_FIELD, "data:read"],
      [TICKED_SCOPE_FIELD, "profile:read"],
      ["scope", "data:read profile:read"],
      ["decision", "allow"],
    ]).toString();
    expect(readConsentForm(Form.fromUrlEncoded(body))).toEqual({
      params: [
        ["client_id", "sgc_app"],
        ["scope", "data:read profile:read"],
      ],
      ticked: new Set(["data:read", "profile:read"]),
      csrf: "tok",
      decision: "allow",
      repeatedControl: false,
    });
  });

  it("flags csrf or decision sent twice (the last one would otherwise win silently)", () => {
    expect(readConsentForm(Form.fromUrlEncoded("csrf=a&csrf=b&decision=allow")).repeatedControl).toBe(true);
    expect(readConsentForm(Form.fromUrlEncoded("csrf=a&decision=deny&decision=allow")).repeatedControl).toBe(true);
    expect(readConsentForm(Form.fromUrlEncoded("csrf=a&decision=allow")).repeatedControl).toBe(false);
  });

  it("keeps repeated request parameters for validation to refuse", () => {
    expect(readConsentForm(Form.fromUrlEncoded("scope=a&scope=b")).params).toEqual([
      ["scope", "a"],
      ["scope", "b"],
    ]);
  });
});

describe("the response and the sign-in redirect", () => {
  it("appends code or error, state and iss after the redirect URI's own query", () => {
    expect(authorizationResponseUrl("https://app.example/cb", ISSUER, { code: "c1", state: "s" })).toBe(
      "https://app.example/cb?code=c1&state=s&iss=https%3A%2F%2Fid.example",
    );
    expect(authorizationResponseUrl("https://app.example/cb?tenant=a%20b", ISSUER, { error: "access_denied", state: undefined })).toBe(
      "https://app.example/cb?tenant=a%20b&error=access_denied&iss=https%3A%2F%2Fid.example",
    );
    expect(authorizationResponseUrl("https://app.example/cb?", ISSUER, { code: "c" })).toBe(
      "https://app.example/cb?code=c&iss=https%3A%2F%2Fid.example",
    );
  });

  it("sends to /login with the return path; asks again when re-authenticating; refuses a path /login would not keep", () => {
    expect(signInPath("/v1/oauth/authorize?a=1&b=2", false)).toBe("/login?return_to=%2Fv1%2Foauth%2Fauthorize%3Fa%3D1%26b%3D2");
    expect(signInPath("/v1/oauth/authorize?a=1", true)).toBe("/login?return_to=%2Fv1%2Foauth%2Fauthorize%3Fa%3D1&prompt=login");
    expect(signInPath(`/x?${"a".repeat(1997)}`, false)).not.toBeNull();
    expect(signInPath(`/x?${"a".repeat(1998)}`, false)).toBeNull();
  });
});
