import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/lib/log.ts";

/** A logger writing JSON lines into an array. */
function capture() {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createLogger("info", false, stream), lines };
}

/** An error as pg and Node make them: a message and a `code`. */
function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe("log redaction", () => {
  it("keeps an error's code (PostgreSQL's, Node's) while an authorization code among the request's parameters is redacted", () => {
    const { log, lines } = capture();
    const authorizationCode = "Zq3vT0p-authorization-code-value";
    log.error(
      {
        err: codedError("canceling statement due to statement timeout", "57014"),
        params: { grant_type: "authorization_code", code: authorizationCode, redirect_uri: "https://app.example/cb" },
      },
      "unhandled error",
    );
    log.warn({ err: codedError("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED") }, "change feed connection lost");
    log.info({ req: { query: { code: authorizationCode, state: "s1" }, body: { code: authorizationCode } } }, "nested");

    expect(lines[0]!.err).toMatchObject({ code: "57014", message: "canceling statement due to statement timeout" });
    expect(lines[0]!.params).toEqual({ grant_type: "authorization_code", code: "[redacted]", redirect_uri: "https://app.example/cb" });
    expect(lines[1]!.err.code).toBe("ECONNREFUSED");
    expect(lines[2]!.req).toEqual({ query: { code: "[redacted]", state: "s1" }, body: { code: "[redacted]" } });
    expect(JSON.stringify(lines)).not.toContain(authorizationCode);
  });

  it("redacts the other secrets: client secrets, passwords, tokens, PKCE verifiers, CSRF tokens, credentials in headers", () => {
    const { log, lines } = capture();
    const secrets = {
      client_secret: "cs-0001",
      password: "pw-0002",
      new_password: "pw-0003",
      current_password: "pw-0004",
      confirm_password: "pw-0005",
      refresh_token: "rt-0006",
      access_token: "at-0007",
      id_token: "it-0008",
      token: "tk-0009",
      code_verifier: "cv-0010",
      csrf: "csrf-0011",
    };
    const headers = {
      authorization: "Basic c2VjcmV0LTAwMTI=",
      cookie: "sg_session=cookie-0013",
      "set-cookie": "sg_session=cookie-0014; HttpOnly",
      "x-csrf-token": "csrf-0015",
      location: "https://app.example/cb?code=code-0016&state=s",
      "content-type": "application/x-www-form-urlencoded",
    };
    log.info({ ...secrets, headers }, "top level");
    log.info({ params: secrets, req: { headers }, res: { headers } }, "one level down");

    const text = JSON.stringify(lines);
    for (const value of [...Object.values(secrets), ...Object.values(headers).filter((v) => !v.startsWith("application/"))]) {
      expect(text, value).not.toContain(value);
    }
    // What is not secret stays readable.
    expect(lines[0]!.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(lines[1]!.req.headers.authorization).toBe("[redacted]");
    expect(lines[1]!.params.password).toBe("[redacted]");
  });
});
