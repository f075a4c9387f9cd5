import { createHmac } from "node:crypto";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { KeyEncryption, KeyEncryptionError } from "../../src/lib/key-encryption.ts";
import {
  isWebhookSecret,
  newWebhookId,
  newWebhookSecret,
  openWebhookSecret,
  sealWebhookSecret,
  signWebhook,
  WebhookSignatureError,
  webhookSecretKey,
  webhookTimestamp,
} from "../../src/webhooks/signature.ts";

// Issue 13 item 3: deliveries follow Standard Webhooks. The official
// `standardwebhooks` package (what the docs tell receivers to use) is the judge.

const body = JSON.stringify({ type: "measurement.created", data: { id: "m_1", value: 72, note: "ünïcødé ✓" } });
const now = () => webhookTimestamp();

function verify(secret: string, payload: string, headers: Record<string, string>): unknown {
  return new Webhook(secret).verify(payload, headers);
}

describe("webhook secrets", () => {
  it("are whsec_ and 32 random bytes in standard base64, different each time", () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), "base64")).toHaveLength(32);
    expect(webhookSecretKey(secret)).toHaveLength(32);
    expect(isWebhookSecret(secret)).toBe(true);
    expect(newWebhookSecret()).not.toBe(secret);
  });

  it("of 24 to 64 bytes are accepted, anything else is refused", () => {
    const of = (n: number) => `whsec_${Buffer.alloc(n, 7).toString("base64")}`;
    expect(isWebhookSecret(of(24))).toBe(true);
    expect(isWebhookSecret(of(64))).toBe(true);
    for (const bad of [
      of(23),
      of(65),
      Buffer.alloc(32).toString("base64"),
      "whsec_",
      "whsec_not base64!",
      `whsec_${Buffer.alloc(32).toString("base64url")}_`,
    ]) {
      expect(isWebhookSecret(bad), bad).toBe(false);
    }
    expect(() => signWebhook({ id: "msg_1", timestamp: now(), body, secrets: [of(16)] })).toThrow(WebhookSignatureError);
  });
});

describe("webhook ids", () => {
  it("are msg_ and url-safe characters, unique, and sort by creation time", () => {
    const a = newWebhookId(new Date(1_700_000_000_000));
    const b = newWebhookId(new Date(1_700_000_000_001));
    expect(a).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(a < b).toBe(true);
    const many = new Set(Array.from({ length: 1000 }, () => newWebhookId()));
    expect(many.size).toBe(1000);
  });
});

describe("signWebhook", () => {
  it("matches the Standard Webhooks published test vector", () => {
    const headers = signWebhook({
      id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
      timestamp: 1614265330,
      body: '{"test": 2432232314}',
      secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    });
    expect(headers).toEqual({
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    });
  });

  it("signs id.timestamp.body (UTF-8) with the base64-decoded secret, one v1 signature per secret", () => {
    const key = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) key[i] = i;
    const secret = `whsec_${key.toString("base64")}`;
    const other = `whsec_${Buffer.alloc(48, 0xab).toString("base64")}`;
    const id = "msg_2fZ-known_answer";
    const timestamp = 1_800_000_000;
    const expected = (k: Buffer) =>
      createHmac("sha256", k)
        .update(Buffer.from(`${id}.${timestamp}.${body}`, "utf8"))
        .digest("base64");
    const headers = signWebhook({ id, timestamp, body, secrets: [secret, other] });
    expect(headers["webhook-signature"]).toBe(`v1,${expected(key)} v1,${expected(Buffer.alloc(48, 0xab))}`);
    expect(headers["webhook-timestamp"]).toBe("1800000000");
  });

  it("is accepted by the standardwebhooks package", () => {
    const secret = newWebhookSecret();
    const headers = signWebhook({ id: newWebhookId(), timestamp: now(), body, secrets: [secret] });
    expect(verify(secret, body, { ...headers })).toEqual(JSON.parse(body));
    // header names are case-insensitive on the wire
    expect(verify(secret, body, Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v])))).toEqual(
      JSON.parse(body),
    );
  });

  it("during a rotation overlap, a receiver holding either the new or the previous secret verifies", () => {
    const previous = newWebhookSecret();
    const current = newWebhookSecret();
    const headers = signWebhook({ id: newWebhookId(), timestamp: now(), body, secrets: [current, previous] });
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    expect(verify(current, body, { ...headers })).toEqual(JSON.parse(body));
    expect(verify(previous, body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => verify(newWebhookSecret(), body, { ...headers })).toThrow(WebhookVerificationError);
  });

  it("is refused for a tampered body, id or timestamp, a wrong secret, and a stale or future timestamp", () => {
    const secret = newWebhookSecret();
    const headers = signWebhook({ id: newWebhookId(), timestamp: now(), body, secrets: [secret] });
    expect(() => verify(secret, body.replace("72", "73"), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => verify(secret, `${body} `, { ...headers })).toThrow(WebhookVerificationError);
    expect(() => verify(secret, body, { ...headers, "webhook-id": newWebhookId() })).toThrow(WebhookVerificationError);
    expect(() => verify(secret, body, { ...headers, "webhook-timestamp": String(now() - 1) })).toThrow(WebhookVerificationError);
    expect(() => verify(newWebhookSecret(), body, { ...headers })).toThrow(WebhookVerificationError);

    // its tolerance is 5 minutes either way: a correctly signed but old delivery (a replay) is refused
    for (const timestamp of [now() - 6 * 60, now() + 6 * 60]) {
      const signed = signWebhook({ id: newWebhookId(), timestamp, body, secrets: [secret] });
      expect(() => verify(secret, body, { ...signed })).toThrow(/too (old|new)/);
    }
    const recent = signWebhook({ id: newWebhookId(), timestamp: now() - 4 * 60, body, secrets: [secret] });
    expect(verify(secret, body, { ...recent })).toEqual(JSON.parse(body));
  });

  it("refuses an id, timestamp, body or secret list that could not be verified as sent", () => {
    const secrets = [newWebhookSecret()];
    const ok = { id: "msg_ok", timestamp: now(), body, secrets };
    expect(() => signWebhook(ok)).not.toThrow();
    for (const id of ["", "msg_", "evt_1", "msg_a.b", "msg_a b", "msg_a/b", `msg_${"a".repeat(121)}`]) {
      expect(() => signWebhook({ ...ok, id }), id).toThrow(WebhookSignatureError);
    }
    for (const timestamp of [1.5, -1, Number.NaN, Date.now() * 1e6]) {
      expect(() => signWebhook({ ...ok, timestamp }), String(timestamp)).toThrow(WebhookSignatureError);
    }
    expect(() => signWebhook({ ...ok, body: "\uD800 lone surrogate" })).toThrow(WebhookSignatureError);
    expect(() => signWebhook({ ...ok, body: Buffer.from(body) as unknown as string })).toThrow(WebhookSignatureError);
    expect(() => signWebhook({ ...ok, secrets: [] })).toThrow(WebhookSignatureError);
  });
});

describe("sealed webhook secrets", () => {
  const ke = new KeyEncryption(`${"w".repeat(16)}-key-encryption-secret-0123`);

  it("round-trip for their endpoint, and do not hold the secret in the clear", () => {
    const secret = newWebhookSecret();
    const sealed = sealWebhookSecret(ke, "ep_1", secret);
    expect(KeyEncryption.isEnvelope(sealed)).toBe(true);
    expect(sealed).not.toContain(secret.slice(6));
    expect(openWebhookSecret(ke, "ep_1", sealed)).toBe(secret);
  });

  it("do not open for another endpoint, under another label, or with another operator secret", () => {
    const sealed = sealWebhookSecret(ke, "ep_1", newWebhookSecret());
    expect(() => openWebhookSecret(ke, "ep_2", sealed)).toThrow(KeyEncryptionError);
    expect(() => ke.open("signing-keys", sealed, "endpoint:ep_1")).toThrow(KeyEncryptionError);
    const other = new KeyEncryption(`${"x".repeat(16)}-key-encryption-secret-0123`);
    expect(() => openWebhookSecret(other, "ep_1", sealed)).toThrow(KeyEncryptionError);
  });

  it("refuse to seal what is not a webhook secret, or for no endpoint", () => {
    expect(() => sealWebhookSecret(ke, "ep_1", "not-a-secret")).toThrow(WebhookSignatureError);
    expect(() => sealWebhookSecret(ke, "", newWebhookSecret())).toThrow(WebhookSignatureError);
  });
});
