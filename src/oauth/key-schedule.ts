import { OUTLIVES_ACCESS_TOKENS_MS, SIGNING_KEY_PUBLISH_BEFORE_USE_MS, SIGNING_KEY_ROTATE_AFTER_MS } from "../lib/lifetimes.ts";

/**
 * When each signing key publishes, signs and stops being published: rules on
 * times alone (`now` is given), so that every instance decides the same from
 * the same rows, and tests need no clock.
 *
 *   createdAt ── published ──> activatesAt ── signs ──> retiredAt ── published ──> retiredAt + RETIRED_KEY_PUBLISHED_MS
 *
 * A key signs from its activatesAt (its createdAt when null) until its
 * retiredAt, which automatic rotation sets to its successor's activatesAt.
 * Published covers the time before it signs (JWKS caches learn it first) and
 * the time after, until the last token it signed has expired.
 */

/**
 * A retired key stays published this long: longer than any token it signed can
 * live (access tokens are capped at a day, id_tokens live an hour).
 */
export const RETIRED_KEY_PUBLISHED_MS = OUTLIVES_ACCESS_TOKENS_MS;

export interface KeyTimes {
  createdAt: Date;
  activatesAt: Date | null;
  retiredAt: Date | null;
}

export interface RotationSchedule {
  /** a key that has signed this long gets a successor (null: never on its own) */
  rotateAfterMs: number | null;
  /** the successor is published this long before it signs */
  publishBeforeUseMs: number;
}

export const DEFAULT_ROTATION: RotationSchedule = {
  rotateAfterMs: SIGNING_KEY_ROTATE_AFTER_MS,
  publishBeforeUseMs: SIGNING_KEY_PUBLISH_BEFORE_USE_MS,
};

export function signsFrom(k: KeyTimes): number {
  return (k.activatesAt ?? k.createdAt).getTime();
}

/** Signs at `now`, or will: not retired yet (current or next). */
export function mayStillSign(k: KeyTimes, now: number): boolean {
  return !k.retiredAt || k.retiredAt.getTime() > now;
}

export function signsAt(k: KeyTimes, now: number): boolean {
  return signsFrom(k) <= now && mayStillSign(k, now);
}

/** In the JWKS at `now`: from creation until its tokens have expired. */
export function isPublished(k: KeyTimes, now: number): boolean {
  return !k.retiredAt || now - k.retiredAt.getTime() < RETIRED_KEY_PUBLISHED_MS;
}

/** The key that signs at `now` among one use's keys: the one that started last (then the newest). */
export function currentKey<K extends KeyTimes>(keys: readonly K[], now: number): K | undefined {
  let best: K | undefined;
  for (const k of keys) {
    if (!signsAt(k, now)) continue;
    if (!best || signsFrom(k) > signsFrom(best) || (signsFrom(k) === signsFrom(best) && k.createdAt > best.createdAt)) best = k;
  }
  return best;
}

/** A published key that has not started signing yet. */
export function nextKey<K extends KeyTimes>(keys: readonly K[], now: number): K | undefined {
  return keys.find((k) => signsFrom(k) > now && mayStillSign(k, now));
}

export interface RotationPlan<K> {
  /** the key that signs now, which stops when the next one starts */
  current: K;
  /** when the next key starts signing: `now` + publishBeforeUseMs */
  activatesAt: Date;
}

/**
 * Whether one use's keys need a successor at `now`: the current key has
 * signed for rotateAfterMs and none is waiting yet. The successor is created
 * now, published at once, and signs from `activatesAt`.
 */
export function rotationDue<K extends KeyTimes>(keys: readonly K[], now: number, schedule: RotationSchedule): RotationPlan<K> | null {
  if (schedule.rotateAfterMs === null) return null;
  const current = currentKey(keys, now);
  if (!current || nextKey(keys, now)) return null;
  if (now - signsFrom(current) < schedule.rotateAfterMs) return null;
  return { current, activatesAt: new Date(now + schedule.publishBeforeUseMs) };
}
