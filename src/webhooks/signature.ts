import { createHmac, randomBytes } from "node:crypto";
import type { KeyEncryption } from "../lib/key-encryption.ts";
import { hasLoneSurrogate } from "../lib/text.ts";

/**
 * Signing webhook deliveries the Standard Webhooks way
 * (https://www.standardwebhooks.com/; spec/standard-webhooks.md in its repository): three
 * headers, and `webhook-signature` holds `v1,<base64 HMAC-SHA256>` of
 * `${id}.${timestamp}.${body}` under the base64-decoded secret, once per
 * secret, space-separated. During a secret rotation both the new and the
 * previous secret sign, so a receiver that still holds either verifies.
 * docs/webhooks.md tells receivers how to verify.
 */

export const SECRET_PREFIX = "whsec_";
/** The spec allows secrets of 24 to 64 bytes; we make 32. */
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;
const SECRET_BYTES = 32;
/** What sealWebhookSecret() seals under (src/lib/key-encryption.ts): another feature's key cannot open it. */
export const KEY_ENCRYPTION_LABEL = "webhooks";

// No ".": it separates the parts of the signed content, so an id with one could shift them.
const MESSAGE_ID = /^msg_[A-Za-z0-9_-]{1,120}$/;
// Strict standard base64 (padded), as the spec writes secrets.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class WebhookSignatureError extends Error {}

/** Whether `value` has the shape of a webhook-id this server issues (msg_ and url-safe characters). */
export function isWebhookId(value: unknown): value is string {
  return typeof value === "string" && MESSAGE_ID.test(value);
}

export interface WebhookHeaders {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
}

/** A new signing secret: `whsec_` and 32 random bytes in base64. Shown to the endpoint's owner once. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString("base64");
}

/**
 * A new message id: `msg_`, then 12 hex digits of the time in milliseconds and
 * 20 of randomness, so ids sort by creation time (to the millisecond) and do
 * not collide. The same id is sent on every retry of a delivery, which is
 * what receivers deduplicate by.
 */
export function newWebhookId(now: Date = new Date()): string {
  const time = now.getTime().toString(16).padStart(12, "0");
  return `msg_${time}${randomBytes(10).toString("hex")}`;
}

/** The key bytes of a `whsec_` secret; throws WebhookSignatureError when it is not one. */
export function webhookSecretKey(secret: string): Buffer {
  if (typeof secret !== "string" || !secret.startsWith(SECRET_PREFIX)) {
    throw new WebhookSignatureError(`a webhook secret starts with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!BASE64.test(encoded)) throw new WebhookSignatureError("a webhook secret is whsec_ and standard base64");
  const key = Buffer.from(encoded, "base64");
  if (key.length < SECRET_MIN_BYTES || key.length > SECRET_MAX_BYTES) {
    throw new WebhookSignatureError(`a webhook secret holds ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes`);
  }
  return key;
}

export function isWebhookSecret(value: unknown): value is string {
  try {
    webhookSecretKey(value as string);
    return true;
  } catch {
    return false;
  }
}

export interface SignWebhookInput {
  /** `msg_` and url-safe characters; the same on every retry of one delivery. */
  id: string;
  /** When this attempt is sent, in whole seconds since the epoch (receivers refuse one more than 5 minutes off). */
  timestamp: number;
  /** The exact request body that will be sent: signed as its UTF-8 bytes. */
  body: string;
  /** The endpoint's current secret, then, during a rotation overlap, the previous one. */
  secrets: readonly string[];
}

export function signWebhook({ id, timestamp, body, secrets }: SignWebhookInput): WebhookHeaders {
  if (!isWebhookId(id)) {
    throw new WebhookSignatureError("a webhook id is msg_ and 1 to 120 of A-Z a-z 0-9 _ -");
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new WebhookSignatureError("a webhook timestamp is whole seconds since the epoch");
  }
  // A string that is not valid Unicode would be sent as other bytes than the ones signed.
  if (typeof body !== "string" || hasLoneSurrogate(body)) {
    throw new WebhookSignatureError("a webhook body is the exact string sent (valid Unicode)");
  }
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new WebhookSignatureError("at least one webhook secret signs a delivery");
  }
  const keys = secrets.map(webhookSecretKey);
  const content = `${id}.${timestamp}.${body}`;
  const signatures = keys.map((key) => `v1,${createHmac("sha256", key).update(content, "utf8").digest("base64")}`);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": signatures.join(" "),
  };
}

/** Whole seconds since the epoch, for `timestamp`. */
export function webhookTimestamp(now: Date = new Date()): number {
  return Math.floor(now.getTime() / 1000);
}

/** What a sealed secret is bound to: one endpoint's row. */
export function sealContext(endpointId: string): string {
  if (typeof endpointId !== "string" || endpointId === "") {
    throw new WebhookSignatureError("a webhook secret is sealed for one endpoint id");
  }
  return `endpoint:${endpointId}`;
}

/** The secret sealed for storage on one endpoint's row: it opens only for that endpoint. */
export function sealWebhookSecret(keyEncryption: KeyEncryption, endpointId: string, secret: string): string {
  webhookSecretKey(secret);
  return keyEncryption.seal(KEY_ENCRYPTION_LABEL, secret, sealContext(endpointId));
}

/** The secret sealed by sealWebhookSecret() for this endpoint; throws KeyEncryptionError when it does not open. */
export function openWebhookSecret(keyEncryption: KeyEncryption, endpointId: string, sealed: string): string {
  const secret = keyEncryption.openText(KEY_ENCRYPTION_LABEL, sealed, sealContext(endpointId));
  webhookSecretKey(secret);
  return secret;
}
