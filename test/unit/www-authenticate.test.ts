import { describe, expect, it } from "vitest";
import { wwwAuthenticate } from "../../src/lib/www-authenticate.ts";

describe("wwwAuthenticate", () => {
  it("builds a challenge with quoted parameters in order, leaving out undefined ones", () => {
    expect(wwwAuthenticate("Bearer", { realm: "scopegate", error: "invalid_token", scope: undefined })).toBe(
      'Bearer realm="scopegate", error="invalid_token"',
    );
    expect(wwwAuthenticate("Basic", {})).toBe("Basic");
  });

  it("keeps every value inside its quotes (RFC 6750 §3 character set)", () => {
    const value = wwwAuthenticate("Bearer", { error_description: 'a "quoted" \\ back\nslash, é and \u0000' });
    expect(value).toBe(`Bearer error_description="a 'quoted' ' back slash,   and  "`);
    expect(value.match(/"/g)).toHaveLength(2);
    for (const ch of value.slice('Bearer error_description="'.length, -1)) {
      const code = ch.charCodeAt(0);
      expect(code === 0x20 || code === 0x21 || (code >= 0x23 && code <= 0x5b) || (code >= 0x5d && code <= 0x7e)).toBe(true);
    }
  });
});
