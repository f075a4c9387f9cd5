import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { parseConnectors } from "../../src/connectors/providers.ts";

const ISSUER = "https://scopegate.example";
const good = { slug: "acme", issuer: "https://id.acme.example", clientId: "abc", clientSecret: "s3cret-value", scopes: ["openid", "read"] };

function fileWith(content: string, name = "connectors.json"): string {
  const path = join(mkdtempSync(join(tmpdir(), "connectors-")), name);
  writeFileSync(path, content);
  return path;
}

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("CONNECTORS_FILE", () => {
  it("takes providers with defaults: name, redirect URI under our issuer, basic auth when there is a secret", () => {
    expect(parseConnectors({ providers: [good] }, ISSUER)).toEqual([
      {
        slug: "acme",
        name: "acme",
        issuer: "https://id.acme.example",
        clientId: "abc",
        clientSecret: "s3cret-value",
        tokenEndpointAuthMethod: "client_secret_basic",
        scopes: ["openid", "read"],
        redirectUri: "https://scopegate.example/v1/connectors/oauth/acme/callback",
        allowInsecureLoopback: false,
      },
    ]);
    // A bare list works too, and a public client (no secret) uses PKCE alone.
    const [pub] = parseConnectors([{ slug: "pub", issuer: "https://id.example", clientId: "p" }], ISSUER);
    expect(pub).toMatchObject({ tokenEndpointAuthMethod: "none", scopes: [] });
  });

  it("allows plain http only for a loopback issuer with allowInsecureLoopback", () => {
    expect(
      parseConnectors([{ ...good, issuer: "http://127.0.0.1:9000", allowInsecureLoopback: true }], ISSUER)[0]!.allowInsecureLoopback,
    ).toBe(true);
    expect(
      parseConnectors([{ ...good, issuer: "http://localhost:9000", allowInsecureLoopback: true }], ISSUER)[0]!.allowInsecureLoopback,
    ).toBe(true);
    for (const issuer of ["http://id.acme.example", "http://10.0.0.1", "http://127.0.0.1.nip.io"]) {
      expect(() => parseConnectors([{ ...good, issuer, allowInsecureLoopback: true }], ISSUER), issuer).toThrow(
        /^connectors: \[0\]\.issuer must be https \(plain http only for a 127\.0\.0\.1 or localhost issuer with allowInsecureLoopback: true\)$/,
      );
    }
    // Off by default: a loopback https issuer is fine, loopback http is not.
    expect(() => parseConnectors([{ ...good, issuer: "http://127.0.0.1:9000" }], ISSUER)).toThrow(/must be https/);
  });

  it("stops the server with one line naming the file and the fault, never a secret", () => {
    const cases: [string, RegExp][] = [
      ["{not json", /^CONNECTORS_FILE \S+ is not valid JSON: /],
      [
        JSON.stringify({ providers: [{ ...good, slug: "Bad Slug" }] }),
        /^CONNECTORS_FILE \S+: providers\[0\]\.slug must be 1 to 40 of a-z 0-9 -/,
      ],
      [
        JSON.stringify({ providers: [{ ...good, issuer: "ftp://x" }] }),
        /^CONNECTORS_FILE \S+: providers\[0\]\.issuer must be an absolute http\(s\) URL$/,
      ],
      [JSON.stringify({ providers: [good, good] }), /^CONNECTORS_FILE \S+: providers\[1\]\.slug "acme" is used twice$/],
      [
        JSON.stringify({ providers: [{ ...good, clientSecret: undefined, tokenEndpointAuthMethod: "client_secret_post" }] }),
        /clientSecret is required/,
      ],
      [JSON.stringify({ providers: [{ ...good, extra: 1 }] }), /^CONNECTORS_FILE \S+: providers\[0\] Unrecognized key/],
      [JSON.stringify({ providers: [{ ...good, scopes: ["has space"] }] }), /providers\[0\]\.scopes\[0\] must be a scope token/],
    ];
    for (const [content, message] of cases) {
      const line = configError({ CONNECTORS_FILE: fileWith(content) });
      expect(line, content).toMatch(message);
      expect(line).not.toContain("\n");
      expect(line).not.toContain("s3cret-value");
    }
    expect(configError({ CONNECTORS_FILE: "/nonexistent/connectors.json" })).toBe(
      "CONNECTORS_FILE /nonexistent/connectors.json cannot be read (ENOENT)",
    );
    expect(loadConfig({ CONNECTORS_FILE: fileWith(JSON.stringify({ providers: [good] })) }).connectors).toHaveLength(1);
  });

  it("reads YAML too, by the file's extension, with the same checks", () => {
    const yaml = [
      "providers:",
      "  - slug: acme",
      "    name: Acme Health",
      "    issuer: https://id.acme.example",
      "    clientId: abc",
      "    clientSecret: s3cret-value",
      "    scopes: [openid, read]",
    ].join("\n");
    const [acme] = loadConfig({ CONNECTORS_FILE: fileWith(yaml, "connectors.yaml") }).connectors;
    expect(acme).toMatchObject({
      slug: "acme",
      name: "Acme Health",
      scopes: ["openid", "read"],
      tokenEndpointAuthMethod: "client_secret_basic",
    });
    expect(loadConfig({ CONNECTORS_FILE: fileWith(yaml, "c.yml") }).connectors).toHaveLength(1);
    expect(configError({ CONNECTORS_FILE: fileWith("providers: [ {", "c.yaml") })).toMatch(/^CONNECTORS_FILE \S+ is not valid YAML: /);
    expect(configError({ CONNECTORS_FILE: fileWith(yaml.replace("https://id", "http://id"), "c.yaml") })).toMatch(
      /^CONNECTORS_FILE \S+: providers\[0\]\.issuer must be https/,
    );
  });
});
