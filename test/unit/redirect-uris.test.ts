import { describe, expect, it } from "vitest";
import { loopbackRedirect, redirectUriMatches, redirectUriProblem } from "../../src/clients/redirect-uris.ts";
import { checkRedirectUris } from "../../src/clients/registration.ts";
import { DomainError } from "../../src/lib/errors.ts";

const PROD_CONFIDENTIAL = { environment: "PRODUCTION", type: "CONFIDENTIAL" } as const;
const PROD_PUBLIC = { environment: "PRODUCTION", type: "PUBLIC" } as const;
const DEV_CONFIDENTIAL = { environment: "DEVELOPMENT", type: "CONFIDENTIAL" } as const;
const DEV_PUBLIC = { environment: "DEVELOPMENT", type: "PUBLIC" } as const;

describe("which redirect URIs a client may register", () => {
  it("https with a host, for every kind of client", () => {
    for (const owner of [PROD_CONFIDENTIAL, PROD_PUBLIC, DEV_CONFIDENTIAL, DEV_PUBLIC]) {
      expect(redirectUriProblem("https://app.example/cb", owner)).toBeNull();
      expect(redirectUriProblem("https://app.example:8443/cb?tenant=a", owner)).toBeNull();
    }
  });

  it("plain http only in development, and only to this machine", () => {
    for (const uri of ["http://localhost:3000/cb", "http://127.0.0.1:8080/cb", "http://[::1]:8080/cb", "http://localhost/cb"]) {
      expect(redirectUriProblem(uri, DEV_CONFIDENTIAL), uri).toBeNull();
      expect(redirectUriProblem(uri, DEV_PUBLIC), uri).toBeNull();
      expect(redirectUriProblem(uri, PROD_CONFIDENTIAL), uri).toBe("must use https in production");
      // A production native app may listen on loopback (RFC 8252 §7.3).
      expect(redirectUriProblem(uri, PROD_PUBLIC), uri).toBeNull();
    }
    for (const uri of ["http://app.example/cb", "http://127.0.0.2/cb", "http://localhost.evil.example/cb"]) {
      expect(redirectUriProblem(uri, DEV_CONFIDENTIAL), uri).toMatch(/only for localhost or 127\.0\.0\.1/);
      expect(redirectUriProblem(uri, PROD_PUBLIC), uri).toBe("must use https in production (plain http only to a loopback address)");
    }
  });

  it("loopback only as written 127.0.0.1, [::1] or localhost: other spellings the URL parser reads as loopback are plain http hosts", () => {
    for (const uri of [
      "http://127.1:8080/cb",
      "http://0x7f.0.0.1:8080/cb",
      "http://2130706433:8080/cb",
      "http://127.000.000.001:8080/cb",
      "http://LOCALHOST:8080/cb",
      "http://LocalHost/cb",
      "http://[0:0:0:0:0:0:0:1]:8080/cb",
      "http://[::0001]:8080/cb",
      "HTTP://localhost:8080/cb",
      "http://localhost:080/cb",
    ]) {
      expect(loopbackRedirect(uri), uri).toBeNull();
      expect(redirectUriProblem(uri, PROD_PUBLIC), uri).toBe("must use https in production (plain http only to a loopback address)");
      expect(redirectUriProblem(uri, DEV_PUBLIC), uri).toMatch(/only for localhost or 127\.0\.0\.1/);
    }
    expect(loopbackRedirect("http://127.0.0.1:8080/cb?x=1")).toEqual({ host: "127.0.0.1", port: 8080, rest: "/cb?x=1" });
    expect(loopbackRedirect("http://[::1]/cb")).toEqual({ host: "[::1]", port: null, rest: "/cb" });
    expect(loopbackRedirect("http://localhost:65535")).toEqual({ host: "localhost", port: 65535, rest: "" });
    expect(loopbackRedirect("http://localhost:65536/cb")).toBeNull();
  });

  it("a private-use scheme (reverse domain name) only for public (native) clients", () => {
    expect(redirectUriProblem("com.example.app:/oauth/cb", PROD_PUBLIC)).toBeNull();
    expect(redirectUriProblem("com.example.app:/oauth/cb", DEV_PUBLIC)).toBeNull();
    expect(redirectUriProblem("com.example.app:/oauth/cb", PROD_CONFIDENTIAL)).toMatch(/only for public \(native\) clients/);
    // Not a reverse domain name: refused like any other scheme.
    expect(redirectUriProblem("myapp:/cb", PROD_PUBLIC)).toMatch(/must use https/);
  });

  it("never other schemes, fragments, credentials, relative or over-long URIs", () => {
    const cases: [string, RegExp][] = [
      ["javascript:alert(1)", /must use https/],
      ["data:text/html,hi", /must use https/],
      ["ftp://app.example/cb", /must use https/],
      ["https://app.example/cb#x", /fragment/],
      ["https://app.example/cb#", /fragment/],
      ["https://user:pw@app.example/cb", /credentials/],
      ["https://user@app.example/cb", /credentials/],
      ["/cb", /absolute URL/],
      ["//app.example/cb", /absolute URL/],
      ["not a url", /absolute URL/],
      [`https://app.example/${"a".repeat(2000)}`, /too long/],
    ];
    for (const [uri, problem] of cases) {
      for (const owner of [DEV_PUBLIC, PROD_CONFIDENTIAL]) expect(redirectUriProblem(uri, owner), uri).toMatch(problem);
    }
  });

  it("registration uses these rules: repeats dropped, the first bad URI named in an invalid_input DomainError on redirectUris", () => {
    expect(checkRedirectUris(["https://a.example/cb", "https://a.example/cb", "https://b.example/cb"], PROD_CONFIDENTIAL)).toEqual([
      "https://a.example/cb",
      "https://b.example/cb",
    ]);
    let thrown: unknown;
    try {
      checkRedirectUris(["https://a.example/cb", "http://a.example/cb"], PROD_CONFIDENTIAL);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(DomainError);
    expect(thrown).toMatchObject({
      code: "invalid_input",
      field: "redirectUris",
      message: "redirect URI http://a.example/cb must use https in production",
    });
  });
});

describe("when a requested redirect_uri matches a registered one", () => {
  const confidential = (redirectUris: string[]) => ({ type: "CONFIDENTIAL" as const, redirectUris });
  const publicClient = (redirectUris: string[]) => ({ type: "PUBLIC" as const, redirectUris });

  it("as exact strings: no normalisation of case, slash, query, port, fragment or encoding", () => {
    const registered = "https://app.example/callback?tenant=a";
    for (const client of [confidential([registered]), publicClient([registered])]) {
      expect(redirectUriMatches(client, registered)).toBe(true);
      for (const other of [
        "https://app.example/callback?tenant=a&x=1",
        "https://app.example/callback?tenant=b",
        "https://app.example/callback",
        "https://app.example/callback/?tenant=a",
        "https://APP.example/callback?tenant=a",
        "https://app.example/Callback?tenant=a",
        "https://app.example:443/callback?tenant=a",
        "https://app.example/callback?tenant=a#frag",
        "https://app.example/%63allback?tenant=a",
        "https://app.example/x/../callback?tenant=a",
        "https://app.example/callback?tenant=a ",
        "http://app.example/callback?tenant=a",
        "https://app.example.evil.example/callback?tenant=a",
        "https://evil.example@app.example/callback?tenant=a",
      ]) {
        expect(redirectUriMatches(client, other), other).toBe(false);
      }
    }
  });

  it("any registered one of several", () => {
    const client = confidential(["https://a.example/cb", "https://b.example/cb"]);
    expect(redirectUriMatches(client, "https://b.example/cb")).toBe(true);
    expect(redirectUriMatches(client, "https://c.example/cb")).toBe(false);
  });

  it("RFC 8252 §7.3: a public client's loopback IP literal matches any port, the rest exact", () => {
    const client = publicClient(["http://127.0.0.1:8080/cb", "http://[::1]/cb"]);
    for (const uri of [
      "http://127.0.0.1:8080/cb",
      "http://127.0.0.1:51234/cb",
      "http://127.0.0.1/cb",
      "http://127.0.0.1:1/cb",
      "http://127.0.0.1:65535/cb",
      "http://[::1]/cb",
      "http://[::1]:40000/cb",
    ]) {
      expect(redirectUriMatches(client, uri), uri).toBe(true);
    }
    for (const uri of [
      "http://127.0.0.1:51234/cb/", // path still exact
      "http://127.0.0.1:51234/other",
      "http://127.0.0.1:51234/cb?x=1",
      "http://127.0.0.1:51234/cb#x",
      "http://127.0.0.1:0/cb", // not a port
      "http://127.0.0.1:65536/cb",
      "http://127.0.0.1:99999/cb",
      "http://127.0.0.1:/cb",
      "https://127.0.0.1:51234/cb", // the scheme is exact
      "http://127.0.0.2:8080/cb",
      "http://[::1]:8080/other",
      "http://[0:0:0:0:0:0:0:1]:8080/cb", // the literal is compared as written
      "http://127.0.0.1:80@evil.example/cb",
      "http://127.0.0.1:8080.evil.example/cb",
    ]) {
      expect(redirectUriMatches(client, uri), uri).toBe(false);
    }
  });

  it("localhost too gets any port, but only for localhost; no port exception for confidential clients", () => {
    const native = publicClient(["http://localhost:8080/cb"]);
    expect(redirectUriMatches(native, "http://localhost:9090/cb")).toBe(true);
    expect(redirectUriMatches(native, "http://localhost/cb")).toBe(true);
    expect(redirectUriMatches(native, "http://127.0.0.1:9090/cb")).toBe(false); // the host stays exact
    expect(redirectUriMatches(native, "http://localhost.evil.example:9090/cb")).toBe(false);
    expect(redirectUriMatches(native, "http://localhost:9090/cb/x")).toBe(false);
    expect(redirectUriMatches(publicClient(["http://127.0.0.1:8080/cb"]), "http://localhost:8080/cb")).toBe(false);
    const conf = confidential(["http://127.0.0.1:8080/cb"]);
    expect(redirectUriMatches(conf, "http://127.0.0.1:8080/cb")).toBe(true);
    expect(redirectUriMatches(conf, "http://127.0.0.1:9090/cb")).toBe(false);
  });

  it("what registration lets in as loopback gets the port exception, and nothing else does", () => {
    for (const registered of ["http://127.0.0.1:8080/cb", "http://[::1]:8080/cb", "http://localhost:8080/cb"]) {
      expect(redirectUriProblem(registered, PROD_PUBLIC), registered).toBeNull();
      const other = registered.replace(":8080", ":9191");
      expect(redirectUriMatches(publicClient([registered]), other), other).toBe(true);
    }
    // Spellings registration refuses get no exception either, should one be stored from before.
    for (const registered of ["http://127.1:8080/cb", "http://LOCALHOST:8080/cb", "http://[0:0:0:0:0:0:0:1]:8080/cb"]) {
      expect(redirectUriProblem(registered, PROD_PUBLIC), registered).not.toBeNull();
      expect(redirectUriMatches(publicClient([registered]), registered), registered).toBe(true); // exact still matches
      expect(redirectUriMatches(publicClient([registered]), registered.replace(":8080", ":9191")), registered).toBe(false);
    }
  });

  it("never a string that is not a URL, even if registered as one", () => {
    expect(redirectUriMatches(confidential(["not a url"]), "not a url")).toBe(false);
    expect(redirectUriMatches(confidential([]), "")).toBe(false);
  });
});
