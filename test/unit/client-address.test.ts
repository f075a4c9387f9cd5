import { describe, expect, it } from "vitest";
import { addressLimitKey, clientAddress, normalizeAddress, parseTrustProxy, TrustedProxies } from "../../src/lib/client-address.ts";
import { loadConfig } from "../../src/config.ts";

describe("normalizeAddress", () => {
  it.each([
    ["1.2.3.4", "1.2.3.4"],
    [" 1.2.3.4 ", "1.2.3.4"],
    ["1.2.3.4:8080", "1.2.3.4"],
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::FFFF:10.0.0.1", "10.0.0.1"],
    ["2001:DB8::1", "2001:db8::1"],
    ["[2001:db8::1]", "2001:db8::1"],
    ["[2001:db8::1]:443", "2001:db8::1"],
    ["fe80::1%eth0", "fe80::1"],
  ])("%j is %j", (raw, expected) => {
    expect(normalizeAddress(raw)).toBe(expected);
  });

  it.each(["", "unknown", "1.2.3", "1.2.3.4.5", "999.1.1.1", "evil.example", "1.2.3.4, 5.6.7.8", "_", "::g"])("refuses %j", (raw) => {
    expect(normalizeAddress(raw)).toBeNull();
  });
});

describe("clientAddress", () => {
  const none = new TrustedProxies();
  const parsed = parseTrustProxy("10.0.0.0/8, 192.168.1.1, ::1");
  const proxies = new TrustedProxies(parsed.ok ? parsed.entries : []);

  it("is the socket's peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(clientAddress("203.0.113.5", "198.51.100.1", none)).toBe("203.0.113.5");
    expect(clientAddress("::ffff:203.0.113.5", undefined, none)).toBe("203.0.113.5");
    expect(clientAddress(undefined, "198.51.100.1", none)).toBe("unknown");
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", () => {
    expect(clientAddress("203.0.113.5", "198.51.100.1", proxies)).toBe("203.0.113.5");
  });

  it("takes the right-most address that is not a trusted proxy", () => {
    expect(clientAddress("10.1.2.3", "198.51.100.1", proxies)).toBe("198.51.100.1");
    // The client wrote 1.1.1.1 itself; the proxies appended what they saw.
    expect(clientAddress("10.1.2.3", "1.1.1.1, 198.51.100.1, 10.0.0.7", proxies)).toBe("198.51.100.1");
    expect(clientAddress("::1", "1.1.1.1, 198.51.100.1, 192.168.1.1", proxies)).toBe("198.51.100.1");
    expect(clientAddress("::ffff:10.1.2.3", "[2001:db8::5]:1234", proxies)).toBe("2001:db8::5");
  });

  it("stops at the last trusted hop when the next entry is not an address", () => {
    expect(clientAddress("10.1.2.3", "198.51.100.1, garbage", proxies)).toBe("10.1.2.3");
    expect(clientAddress("10.1.2.3", "", proxies)).toBe("10.1.2.3");
    expect(clientAddress("10.1.2.3", "unknown, 10.0.0.9", proxies)).toBe("10.0.0.9");
  });

  it("is the left-most entry when every hop is a trusted proxy", () => {
    expect(clientAddress("10.1.2.3", "10.0.0.1, 10.0.0.2", proxies)).toBe("10.0.0.1");
  });
});

describe("addressLimitKey", () => {
  it("counts IPv4 by address and IPv6 by its /64", () => {
    expect(addressLimitKey("203.0.113.5")).toBe("203.0.113.5");
    expect(addressLimitKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressLimitKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(addressLimitKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressLimitKey("::1")).toBe("0:0:0:0::/64");
    expect(addressLimitKey("unknown")).toBe("unknown");
  });
});

describe("TRUST_PROXY and the limits in the configuration", () => {
  it("defaults: no proxy trusted, limits as documented", () => {
    const c = loadConfig({});
    expect(c.trustProxy).toEqual([]);
    expect(c.abuseLimits).toEqual({
      signIn: { perAccount: 10, perAddress: 50, windowSeconds: 300 },
      signUp: { perAddress: 10, windowSeconds: 3600 },
    });
  });

  it("reads IPs and CIDRs, separated by commas or spaces", () => {
    expect(loadConfig({ TRUST_PROXY: "10.0.0.0/8, 192.168.1.1 ::1 2001:DB8::/32" }).trustProxy).toEqual([
      "10.0.0.0/8",
      "192.168.1.1",
      "::1",
      "2001:db8::/32",
    ]);
  });

  it("reads an IPv4-mapped range as the IPv4 range it maps", () => {
    expect(loadConfig({ TRUST_PROXY: "::ffff:10.0.0.0/104, ::ffff:192.168.1.1" }).trustProxy).toEqual(["10.0.0.0/8", "192.168.1.1"]);
    expect(new TrustedProxies(["10.0.0.0/8"]).has("10.200.1.1")).toBe(true);
    expect(() => loadConfig({ TRUST_PROXY: "::ffff:10.0.0.0/64" })).toThrow(/prefix of 96 or more/);
  });

  it.each(["10.0.0.0/33", "::1/129", "localhost", "10.0.0.0/8/1", "10.0.0.0/x", "1.2.3"])("refuses TRUST_PROXY=%j naming it", (v) => {
    expect(() => loadConfig({ TRUST_PROXY: v })).toThrow(/TRUST_PROXY must list IP addresses or CIDR ranges/);
  });

  it("reads the limits", () => {
    const c = loadConfig({
      SIGN_IN_MAX_PER_ACCOUNT: "5",
      SIGN_IN_MAX_PER_ADDRESS: "100",
      SIGN_IN_WINDOW_SECONDS: "600",
      SIGN_UP_MAX_PER_ADDRESS: "3",
      SIGN_UP_WINDOW_SECONDS: "86400",
    });
    expect(c.abuseLimits).toEqual({
      signIn: { perAccount: 5, perAddress: 100, windowSeconds: 600 },
      signUp: { perAddress: 3, windowSeconds: 86400 },
    });
  });

  it.each([
    ["SIGN_IN_MAX_PER_ACCOUNT", "0"],
    ["SIGN_IN_MAX_PER_ADDRESS", "-1"],
    ["SIGN_IN_WINDOW_SECONDS", "3601"],
    ["SIGN_UP_MAX_PER_ADDRESS", "ten"],
    ["SIGN_UP_WINDOW_SECONDS", "0"],
  ])("refuses %s=%j with a message naming it", (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name} must be a whole number`));
  });
});
