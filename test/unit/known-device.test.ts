import { describe, expect, it } from "vitest";
import { knownDeviceKey, knownDeviceNonce, knownDeviceToken } from "../../src/accounts/known-device.ts";

const ada = { id: "u-ada", passwordHash: "scrypt$32768$8$1$c2FsdA$aGFzaA" };

describe("known-device cookies", () => {
  it("are recognised for their own user only, and keep their nonce", () => {
    const token = knownDeviceToken(ada);
    const key = knownDeviceKey(token, ada);
    expect(key).toMatch(/^u-ada\|[\w-]{24}$/);
    expect(knownDeviceToken(ada, knownDeviceNonce(key))).toBe(token);
    expect(knownDeviceKey(token, { id: "u-bob", passwordHash: ada.passwordHash })).toBeNull();
    expect(knownDeviceKey(token, null)).toBeNull();
  });

  it("stop counting once the password changes", () => {
    const token = knownDeviceToken(ada);
    expect(knownDeviceKey(token, { ...ada, passwordHash: "scrypt$32768$8$1$c2FsdA$bmV3" })).toBeNull();
  });

  it.each([
    ["undefined", undefined],
    ["empty", ""],
    ["no MAC", "abcdefghijklmnopqrstuvwx"],
    ["a wrong MAC", `abcdefghijklmnopqrstuvwx.${"A".repeat(43)}`],
    ["an extra part", `${knownDeviceToken(ada)}.x`],
    ["a short nonce", knownDeviceToken(ada, "short")],
    ["a nonce with other characters", knownDeviceToken(ada, "abcdefghijklmnop|q")],
    ["an over-long value", "a".repeat(201)],
  ])("refuse %s", (_what, value) => {
    expect(knownDeviceKey(value, ada)).toBeNull();
  });
});
