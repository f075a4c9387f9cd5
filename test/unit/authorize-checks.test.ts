import { describe, expect, it } from "vitest";
import type { OAuthClient } from "../../src/generated/prisma/client.ts";
import { checkClient } from "../../src/oauth/authorize/check-client.ts";
import { checkLoginMarker } from "../../src/oauth/authorize/check-login-marker.ts";
import { checkMaxAge } from "../../src/oauth/authorize/check-max-age.ts";
import { checkParamLengths } from "../../src/oauth/authorize/check-param-lengths.ts";
import { checkPkce } from "../../src/oauth/authorize/check-pkce.ts";
import { checkPrompt } from "../../src/oauth/authorize/check-prompt.ts";
import { checkRedirectUri } from "../../src/oauth/authorize/check-redirect-uri.ts";
import { checkResponseMode } from "../../src/oauth/authorize/check-response-mode.ts";
import { checkResponseType } from "../../src/oauth/authorize/check-response-type.ts";
import { checkResource } from "../../src/oauth/authorize/check-resource.ts";
import { checkScope } from "../../src/oauth/authorize/check-scope.ts";
import {
  AuthorizeError,
  collectParams,
  newContext,
  type AuthorizeCheck,
  type AuthorizeContext,
} from "../../src/oauth/authorize/context.ts";
import { readState } from "../../src/oauth/authorize/read-state.ts";
import { rejectRepeatedParams } from "../../src/oauth/authorize/reject-repeated-params.ts";
import { rejectRequestObjects } from "../../src/oauth/authorize/reject-request-objects.ts";
import { AUTHORIZE_CHECKS, validateAuthorizationRequest } from "../../src/oauth/authorize/validate.ts";

const NOW = new Date("2026-12-01T12:00:00Z");
const REDIRECT = "https://app.example/cb";
const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

function client(overrides: Partial<OAuthClient> = {}): OAuthClient {
  return {
    id: "row-1",
    clientId: "sgc_app",
    name: "Pulse Tracker",
    environment: "PRODUCTION",
    type: "PUBLIC",
    redirectUris: [REDIRECT],
    scopes: ["profile:read", "data:read"],
    grantTypes: ["authorization_code", "refresh_token"],
    firstParty: false,
    accessTokenTtl: 600,
    refreshTokens: true,
    secretHash: null,
    secretHint: null,
    previousSecretHash: null,
    previousSecretExpiresAt: null,
    ownerId: "owner-1",
    createdAt: NOW,
    updatedAt: NOW,
    revokedAt: null,
    ...overrides,
  } as OAuthClient;
}

/** A valid request's parameters; `over` replaces (null removes) and `extra` appends. */
function params(over: Record<string, string | null> = {}, extra: [string, string][] = []): [string, string][] {
  const all: Record<string, string | null> = {
    client_id: "sgc_app",
    redirect_uri: REDIRECT,
    response_type: "code",
    scope: "openid data:read",
    code_challenge: CHALLENGE,
    code_challenge_method: "S256",
    state: "st-1",
    nonce: "n-1",
    ...over,
  };
  const out = Object.entries(all).filter((e): e is [string, string] => e[1] !== null);
  return [...out, ...extra];
}

const findNone = async () => null;

/** A context as the checks before `check` would leave it: client and redirect URI known. */
function ctxFor(entries: [string, string][], c: OAuthClient | null = client()): AuthorizeContext {
  const ctx = newContext({ params: collectParams(entries), now: NOW, findClient: findNone });
  if (c) {
    ctx.client = c;
    ctx.redirectUri = REDIRECT;
  }
  return ctx;
}

/** The AuthorizeError a check throws (or undefined when it passes). */
async function refusal(check: AuthorizeCheck, ctx: AuthorizeContext): Promise<AuthorizeError | undefined> {
  try {
    await check(ctx);
    return undefined;
  } catch (err) {
    if (err instanceof AuthorizeError) return err;
    throw err;
  }
}

describe("checkClient (before the redirect URI: its errors are only ever shown on a page)", () => {
  const lookup = (found: OAuthClient | null) => async (id: string) => (id === "sgc_app" ? found : null);
  const run = (entries: [string, string][], found: OAuthClient | null = client()) => {
    const ctx = newContext({ params: collectParams(entries), now: NOW, findClient: lookup(found) });
    return refusal(checkClient, ctx).then((err) => ({ err, ctx }));
  };

  it("finds the client and sets it on the context", async () => {
    const { err, ctx } = await run(params());
    expect(err).toBeUndefined();
    expect(ctx.client?.clientId).toBe("sgc_app");
  });

  it("refuses a missing, empty, repeated, unknown, over-long or switched-off client_id", async () => {
    expect((await run(params({ client_id: null }))).err).toMatchObject({
      error: "invalid_request",
      description: expect.stringMatching(/client_id is missing/),
    });
    expect((await run(params({ client_id: "" }))).err).toMatchObject({
      error: "invalid_request",
      description: expect.stringMatching(/client_id is missing/),
    });
    expect((await run(params({}, [["client_id", "sgc_app"]]))).err).toMatchObject({
      error: "invalid_request",
      description: expect.stringMatching(/more than once/),
    });
    expect((await run(params({ client_id: "sgc_other" }))).err).toMatchObject({
      error: "invalid_client",
      description: expect.stringMatching(/not registered/),
    });
    expect((await run(params({ client_id: "x".repeat(201) }))).err).toMatchObject({ error: "invalid_client" });
    const off = client({ revokedAt: NOW });
    expect((await run(params(), off)).err).toMatchObject({
      error: "invalid_client",
      description: "Pulse Tracker has been switched off, so it can no longer ask for access.",
    });
  });

  it("does not look up an over-long client_id", async () => {
    let looked = false;
    const ctx = newContext({
      params: collectParams(params({ client_id: "x".repeat(201) })),
      now: NOW,
      findClient: async () => {
        looked = true;
        return client();
      },
    });
    await refusal(checkClient, ctx);
    expect(looked).toBe(false);
  });
});

describe("checkRedirectUri (the last check whose errors are shown on a page)", () => {
  const run = (entries: [string, string][], c = client()) => {
    const ctx = newContext({ params: collectParams(entries), now: NOW, findClient: findNone });
    ctx.client = c;
    return refusal(checkRedirectUri, ctx).then((err) => ({ err, ctx }));
  };

  it("trusts a registered redirect URI: sets ctx.redirectUri", async () => {
    const { err, ctx } = await run(params());
    expect(err).toBeUndefined();
    expect(ctx.redirectUri).toBe(REDIRECT);
  });

  it("refuses a missing, empty, repeated or unregistered redirect_uri, and leaves ctx.redirectUri unset", async () => {
    for (const [entries, error, text] of [
      [params({ redirect_uri: null }), "invalid_request", /redirect_uri is missing/],
      [params({ redirect_uri: "" }), "invalid_request", /redirect_uri is missing/],
      [params({}, [["redirect_uri", REDIRECT]]), "invalid_request", /redirect_uri more than once/],
      [params({ redirect_uri: `${REDIRECT}/` }), "invalid_redirect_uri", /not registered for it/],
      [params({ redirect_uri: "https://evil.example/cb" }), "invalid_redirect_uri", /not registered for it/],
    ] as const) {
      const { err, ctx } = await run([...entries]);
      expect(err).toMatchObject({ error, description: expect.stringMatching(text) });
      expect(ctx.redirectUri).toBeUndefined();
    }
  });

  it("matches with the shared rules: a public client's loopback literal on another port", async () => {
    const cli = client({ redirectUris: ["http://127.0.0.1:8080/cb"] });
    expect((await run(params({ redirect_uri: "http://127.0.0.1:5555/cb" }), cli)).err).toBeUndefined();
    const conf = client({ type: "CONFIDENTIAL", redirectUris: ["http://127.0.0.1:8080/cb"] });
    expect((await run(params({ redirect_uri: "http://127.0.0.1:5555/cb" }), conf)).err).toMatchObject({ error: "invalid_redirect_uri" });
  });
});

describe("readState", () => {
  it("keeps a single, non-empty state of at most 2048 characters; never refuses", async () => {
    for (const [entries, state] of [
      [params(), "st-1"],
      [params({ state: null }), undefined],
      [params({ state: "" }), undefined],
      [params({}, [["state", "other"]]), undefined], // ambiguous: not echoed
      [params({ state: "s".repeat(2048) }), "s".repeat(2048)],
      [params({ state: "s".repeat(2049) }), undefined],
    ] as const) {
      const ctx = ctxFor([...entries]);
      expect(await refusal(readState, ctx)).toBeUndefined();
      expect(ctx.state).toBe(state);
    }
  });
});

describe("rejectRepeatedParams", () => {
  it("refuses any parameter given twice, known or not, naming it only when it is printable", async () => {
    expect(await refusal(rejectRepeatedParams, ctxFor(params()))).toBeUndefined();
    expect(await refusal(rejectRepeatedParams, ctxFor(params({}, [["scope", "data:read"]])))).toMatchObject({
      error: "invalid_request",
      description: "Parameter scope is included more than once.",
    });
    expect(
      await refusal(
        rejectRepeatedParams,
        ctxFor(
          params({}, [
            ["x-extra", "1"],
            ["x-extra", "2"],
          ]),
        ),
      ),
    ).toMatchObject({
      description: "Parameter x-extra is included more than once.",
    });
    expect(
      await refusal(
        rejectRepeatedParams,
        ctxFor(
          params({}, [
            ['a"b', "1"],
            ['a"b', "2"],
          ]),
        ),
      ),
    ).toMatchObject({
      description: "Parameter (unnamed) is included more than once.",
    });
  });
});

describe("rejectRequestObjects", () => {
  it("refuses request and request_uri with their own error codes", async () => {
    expect(await refusal(rejectRequestObjects, ctxFor(params()))).toBeUndefined();
    expect(await refusal(rejectRequestObjects, ctxFor(params({ request: "eyJ.e30." })))).toMatchObject({ error: "request_not_supported" });
    expect(await refusal(rejectRequestObjects, ctxFor(params({ request_uri: "urn:x" })))).toMatchObject({
      error: "request_uri_not_supported",
    });
    expect(await refusal(rejectRequestObjects, ctxFor(params({ request: "", request_uri: "" })))).toMatchObject({
      error: "request_not_supported",
    });
  });
});

describe("checkParamLengths", () => {
  it("allows 2048 characters and refuses 2049, in any parameter", async () => {
    expect(await refusal(checkParamLengths, ctxFor(params({ nonce: "n".repeat(2048) })))).toBeUndefined();
    expect(await refusal(checkParamLengths, ctxFor(params({ nonce: "n".repeat(2049) })))).toMatchObject({
      error: "invalid_request",
      description: "Parameter nonce is too long.",
    });
    expect(await refusal(checkParamLengths, ctxFor(params({}, [["unknown", "u".repeat(2049)]])))).toMatchObject({
      description: "Parameter unknown is too long.",
    });
  });
});

describe("checkResponseType", () => {
  it("accepts code only", async () => {
    expect(await refusal(checkResponseType, ctxFor(params()))).toBeUndefined();
    expect(await refusal(checkResponseType, ctxFor(params({ response_type: null })))).toMatchObject({ error: "invalid_request" });
    expect(await refusal(checkResponseType, ctxFor(params({ response_type: "" })))).toMatchObject({ error: "invalid_request" });
    for (const rt of ["token", "code id_token", "id_token", "CODE", "code "]) {
      expect(await refusal(checkResponseType, ctxFor(params({ response_type: rt }))), rt).toMatchObject({
        error: "unsupported_response_type",
      });
    }
  });
});

describe("checkResponseMode", () => {
  it("accepts no response_mode or query", async () => {
    expect(await refusal(checkResponseMode, ctxFor(params()))).toBeUndefined();
    expect(await refusal(checkResponseMode, ctxFor(params({ response_mode: "query" })))).toBeUndefined();
    for (const mode of ["fragment", "form_post", "", "jwt"]) {
      expect(await refusal(checkResponseMode, ctxFor(params({ response_mode: mode }))), mode).toMatchObject({ error: "invalid_request" });
    }
  });
});

describe("checkPkce", () => {
  it("keeps an S256 challenge of 43 to 128 unreserved characters", async () => {
    for (const challenge of [CHALLENGE, "a".repeat(43), `${"A-._~".repeat(25)}abc`]) {
      const ctx = ctxFor(params({ code_challenge: challenge }));
      expect(await refusal(checkPkce, ctx)).toBeUndefined();
      expect(ctx.codeChallenge).toBe(challenge);
    }
  });

  it("refuses a missing challenge, a missing or plain or unknown method, and a malformed challenge", async () => {
    const cases: [Record<string, string | null>, RegExp][] = [
      [{ code_challenge: null }, /PKCE is required/],
      [{ code_challenge: "" }, /PKCE is required/],
      [{ code_challenge_method: null }, /plain PKCE is not accepted/],
      [{ code_challenge_method: "plain" }, /plain PKCE is not accepted/],
      [{ code_challenge_method: "s256" }, /must be S256\.$/],
      [{ code_challenge: "a".repeat(42) }, /43 to 128/],
      [{ code_challenge: "a".repeat(129) }, /43 to 128/],
      [{ code_challenge: `${"a".repeat(42)}+` }, /43 to 128/],
      [{ code_challenge: `${"a".repeat(42)}=` }, /43 to 128/],
    ];
    for (const [over, text] of cases) {
      const ctx = ctxFor(params(over));
      expect(await refusal(checkPkce, ctx), JSON.stringify(over)).toMatchObject({
        error: "invalid_request",
        description: expect.stringMatching(text),
      });
      expect(ctx.codeChallenge).toBeUndefined();
    }
  });
});

describe("checkScope", () => {
  it("keeps the client's registered scopes and the protocol scopes, without repeats", async () => {
    const ctx = ctxFor(params({ scope: "openid  data:read offline_access data:read profile:read" }));
    expect(await refusal(checkScope, ctx)).toBeUndefined();
    expect(ctx.scopes).toEqual(["openid", "data:read", "offline_access", "profile:read"]);
  });

  it("refuses no scope, and any scope the client is not registered for (named when printable)", async () => {
    expect(await refusal(checkScope, ctxFor(params({ scope: null })))).toMatchObject({
      error: "invalid_scope",
      description: "Ask for at least one scope.",
    });
    expect(await refusal(checkScope, ctxFor(params({ scope: "   " })))).toMatchObject({ error: "invalid_scope" });
    expect(await refusal(checkScope, ctxFor(params({ scope: "data:read data:write admin" })))).toMatchObject({
      error: "invalid_scope",
      description: "This client may not ask for: data:write admin.",
    });
    expect(await refusal(checkScope, ctxFor(params({ scope: 'data:read "x"' })))).toMatchObject({
      error: "invalid_scope",
      description: "The request asks for scopes this client may not ask for.",
    });
  });
});

describe("checkPrompt", () => {
  it("understands none, login and consent; none alone", async () => {
    for (const [value, expected] of [
      [null, []],
      ["none", ["none"]],
      ["login", ["login"]],
      ["consent", ["consent"]],
      ["login consent", ["login", "consent"]],
    ] as const) {
      const ctx = ctxFor(params({ prompt: value }));
      expect(await refusal(checkPrompt, ctx)).toBeUndefined();
      expect([...ctx.prompt]).toEqual(expected);
    }
    for (const value of ["select_account", "none consent", "none login", "NONE"]) {
      expect(await refusal(checkPrompt, ctxFor(params({ prompt: value }))), value).toMatchObject({ error: "invalid_request" });
    }
  });
});

describe("validateAuthorizationRequest: the checks in order", () => {
  const findClient = async (id: string) => (id === "sgc_app" ? client() : null);
  const validate = (entries: [string, string][]) => validateAuthorizationRequest({ params: collectParams(entries), now: NOW, findClient });

  it("runs every check, from the client to the sign-in marker", () => {
    expect(AUTHORIZE_CHECKS).toEqual([
      checkClient,
      checkRedirectUri,
      readState,
      rejectRepeatedParams,
      rejectRequestObjects,
      checkParamLengths,
      checkResponseType,
      checkResponseMode,
      checkPkce,
      checkScope,
      checkResource,
      checkPrompt,
      checkMaxAge,
      checkLoginMarker,
    ]);
  });

  it("carries max_age and the sign-in marker through the consent form, so that a sign-in on the way keeps them", async () => {
    const at = String(NOW.getTime() - 5000);
    const result = await validate(params({ max_age: "300", sg_login_after: at }));
    expect(result).toMatchObject({ kind: "ok", request: { maxAge: 300, signedInAfter: Number(at) } });
    if (result.kind === "ok") expect(result.request.carried).toMatchObject({ max_age: "300", sg_login_after: at });
  });

  it("a valid request: everything the endpoint needs, and the known parameters to carry through the consent form", async () => {
    const result = await validate(params({ prompt: "consent" }, [["unknown", "dropped"]]));
    expect(result.kind).toBe("ok");
    if (result.kind !== "ok") return;
    expect(result.request).toMatchObject({
      redirectUri: REDIRECT,
      state: "st-1",
      scopes: ["openid", "data:read"],
      codeChallenge: CHALLENGE,
      nonce: "n-1",
    });
    expect(result.request.client.clientId).toBe("sgc_app");
    expect([...result.request.prompt]).toEqual(["consent"]);
    expect(result.request.carried).toEqual({
      response_type: "code",
      client_id: "sgc_app",
      redirect_uri: REDIRECT,
      scope: "openid data:read",
      state: "st-1",
      code_challenge: CHALLENGE,
      code_challenge_method: "S256",
      nonce: "n-1",
      prompt: "consent",
    });
  });

  it("errors before the redirect URI is trusted are a page (never a redirect), whatever else is wrong", async () => {
    for (const entries of [
      params({ client_id: null, response_type: "token" }),
      params({ client_id: "sgc_other" }),
      params({ redirect_uri: "https://evil.example/cb", response_type: "token" }),
      params({ redirect_uri: null, request: "x" }),
    ]) {
      const result = await validate(entries);
      expect(result.kind, JSON.stringify(entries)).toBe("page");
      if (result.kind === "page") {
        expect(result.title).toBe("This app's request can't be used");
        expect(result.message).toMatch(/Go back to the app and try again/);
      }
    }
  });

  it("errors after it go back to the redirect URI, with the state when it is unambiguous", async () => {
    const cases: [[string, string][], string, string | undefined][] = [
      [params({ response_type: "token" }), "unsupported_response_type", "st-1"],
      [params({ scope: "admin" }), "invalid_scope", "st-1"],
      [params({ code_challenge_method: "plain" }), "invalid_request", "st-1"],
      [params({ prompt: "none login" }), "invalid_request", "st-1"],
      [params({ request_uri: "urn:x" }), "request_uri_not_supported", "st-1"],
      [params({ max_age: "-1" }), "invalid_request", "st-1"],
      [params({ sg_login_after: "soon" }), "invalid_request", "st-1"],
      [params({}, [["state", "again"]]), "invalid_request", undefined],
      [params({ state: null, response_type: null }), "invalid_request", undefined],
    ];
    for (const [entries, error, state] of cases) {
      expect(await validate(entries), JSON.stringify(entries)).toEqual({
        kind: "redirect",
        redirectUri: REDIRECT,
        state,
        error,
        description: expect.any(String),
      });
    }
  });

  it("reports the first problem in check order", async () => {
    // A repeat beats a request object, which beats a long value, which beats the response type...
    const all = params({ response_type: "token", request: "x", nonce: "n".repeat(3000), scope: "admin" }, [["scope", "x"]]);
    expect(await validate(all)).toMatchObject({ error: "invalid_request", description: "Parameter scope is included more than once." });
    expect(await validate(params({ response_type: "token", request: "x", nonce: "n".repeat(3000) }))).toMatchObject({
      error: "request_not_supported",
    });
    expect(await validate(params({ response_type: "token", nonce: "n".repeat(3000) }))).toMatchObject({
      error: "invalid_request",
      description: "Parameter nonce is too long.",
    });
    expect(await validate(params({ response_type: "token", response_mode: "fragment" }))).toMatchObject({
      error: "unsupported_response_type",
    });
    expect(await validate(params({ response_mode: "fragment", code_challenge: null }))).toMatchObject({
      description: "Only response_mode=query is supported.",
    });
    expect(await validate(params({ code_challenge: null, scope: "admin" }))).toMatchObject({ description: expect.stringMatching(/PKCE/) });
    expect(await validate(params({ scope: "admin", prompt: "bogus" }))).toMatchObject({ error: "invalid_scope" });
  });

  it("decides page or redirect by whether the redirect URI was trusted, not by which check failed", async () => {
    const refuse: AuthorizeCheck = () => {
      throw new AuthorizeError("invalid_request", "no");
    };
    const trust: AuthorizeCheck = (ctx) => {
      ctx.redirectUri = REDIRECT;
    };
    expect(await validateAuthorizationRequest({ params: collectParams(params()), now: NOW, findClient }, [refuse])).toMatchObject({
      kind: "page",
    });
    expect(await validateAuthorizationRequest({ params: collectParams(params()), now: NOW, findClient }, [trust, refuse])).toMatchObject({
      kind: "redirect",
      redirectUri: REDIRECT,
    });
  });

  it("lets an unexpected error through (it is a bug or an outage, not a refusal)", async () => {
    const broken = async () => {
      throw new Error("database down");
    };
    await expect(validateAuthorizationRequest({ params: collectParams(params()), now: NOW, findClient: broken })).rejects.toThrow(
      "database down",
    );
  });
});

describe("checkResource (RFC 8707)", () => {
  const ISSUER = "https://sg.example";
  const run = (entries: [string, string][]) => {
    const ctx = newContext({ params: collectParams(entries), now: NOW, findClient: findNone, issuer: ISSUER });
    checkResource(ctx);
    return ctx.audience;
  };

  it("gives the GraphQL API without resource, or for the origin; the MCP endpoint when asked", () => {
    expect(run([])).toBe("https://sg.example/graphql");
    expect(run([["resource", ISSUER]])).toBe("https://sg.example/graphql");
    expect(run([["resource", "https://sg.example/mcp"]])).toBe("https://sg.example/mcp");
  });

  it("refuses an unknown resource, or two, with invalid_target (a repeated resource passes rejectRepeatedParams for this)", () => {
    expect(() => run([["resource", "https://sg.example/other"]])).toThrow(
      expect.objectContaining({
        error: "invalid_target",
        description: expect.stringMatching(/^Unknown resource https:\/\/sg\.example\/other\. /),
      }),
    );
    const two: [string, string][] = [
      ["resource", "https://sg.example/graphql"],
      ["resource", "https://sg.example/mcp"],
    ];
    expect(() => rejectRepeatedParams(ctxFor(two))).not.toThrow();
    expect(() => run(two)).toThrow(expect.objectContaining({ error: "invalid_target", description: "Ask for one resource per token." }));
    expect(() =>
      rejectRepeatedParams(
        ctxFor([
          ["scope", "a"],
          ["scope", "b"],
        ]),
      ),
    ).toThrow(expect.objectContaining({ error: "invalid_request" }));
  });
});
