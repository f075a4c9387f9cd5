import type { Change } from "../db/changes.ts";

/**
 * What has been revoked, held in memory so that checking a token needs no
 * database statement. Built from the change feed (src/db/changes.ts): each
 * rule is kept until no token it can affect is still unexpired.
 *
 * Narrowing rules (a grant or a client losing scopes) end only the tokens
 * issued up to the change: a token issued later was minted from the narrower
 * scopes, or from a new consent that gave them back. `iat` has one-second
 * resolution and instances' clocks differ a little, so tokens issued within
 * NARROWING_MARGIN_S after the change count as before it: at worst such a token
 * is refused and the app refreshes again; it is never wrongly admitted.
 */
export const NARROWING_MARGIN_S = 2;

export interface TokenFacts {
  jti: string;
  /** the user the token acts for */
  sub: string;
  clientRowId: string;
  grantId: string | null;
  scopes: readonly string[];
  /** issued at, seconds */
  iat: number;
}

interface Narrowing {
  scopes: string[];
  /** tokens issued at or before this (seconds) are affected */
  issuedUpTo: number;
  until: number;
}

export class RevocationView {
  private readonly tokens = new Map<string, number>();
  private readonly grants = new Map<string, number>();
  private readonly clients = new Map<string, number>();
  private readonly users = new Map<string, number>();
  private readonly grantNarrowings = new Map<string, Narrowing[]>();
  private readonly clientNarrowings = new Map<string, Narrowing[]>();
  private nextPrune = 0;

  /** Applies changes; applying one twice changes nothing. */
  apply(changes: readonly Change[]): void {
    for (const c of changes) {
      const until = c.expiresAt.getTime();
      switch (c.kind) {
        case "token.revoked":
          keepUntil(this.tokens, c.subject, until);
          break;
        case "grant.revoked":
          keepUntil(this.grants, c.subject, until);
          break;
        case "client.revoked":
          keepUntil(this.clients, c.subject, until);
          break;
        case "user.deleted":
          keepUntil(this.users, c.subject, until);
          break;
        case "grant.narrowed":
          addNarrowing(this.grantNarrowings, c);
          break;
        case "client.changed":
          if (c.scopes.length) addNarrowing(this.clientNarrowings, c);
          break;
        case "keys.changed":
          break;
      }
    }
  }

  /** Why the token is no longer live, or null when nothing revoked it. */
  refusal(t: TokenFacts, now = Date.now()): string | null {
    if (now >= this.nextPrune) this.prune(now);
    if (this.tokens.has(t.jti)) return "The access token was revoked.";
    if (this.clients.has(t.clientRowId)) return "The client of this access token was revoked.";
    if (t.grantId && this.grants.has(t.grantId)) return "The user revoked this app's access.";
    if (this.users.has(t.sub)) return "The account of this access token was deleted.";
    if (t.grantId && narrowedAway(this.grantNarrowings.get(t.grantId), t)) {
      return "The user took a permission of this access token away.";
    }
    if (narrowedAway(this.clientNarrowings.get(t.clientRowId), t)) {
      return "A permission of this access token was removed from its client.";
    }
    return null;
  }

  /** Rules held, for metrics and tests. */
  size(): number {
    let n = this.tokens.size + this.grants.size + this.clients.size + this.users.size;
    for (const list of this.grantNarrowings.values()) n += list.length;
    for (const list of this.clientNarrowings.values()) n += list.length;
    return n;
  }

  /** Forgets rules whose tokens have all expired (at most once a minute, from refusal()). */
  prune(now = Date.now()): void {
    this.nextPrune = now + 60_000;
    for (const map of [this.tokens, this.grants, this.clients, this.users]) {
      for (const [k, until] of map) if (until <= now) map.delete(k);
    }
    for (const map of [this.grantNarrowings, this.clientNarrowings]) {
      for (const [k, list] of map) {
        const left = list.filter((n) => n.until > now);
        if (left.length) map.set(k, left);
        else map.delete(k);
      }
    }
  }
}

function keepUntil(map: Map<string, number>, key: string, until: number): void {
  map.set(key, Math.max(until, map.get(key) ?? 0));
}

function addNarrowing(map: Map<string, Narrowing[]>, c: Change): void {
  const issuedUpTo = Math.floor(c.at.getTime() / 1000) + NARROWING_MARGIN_S;
  const list = map.get(c.subject) ?? [];
  if (list.some((n) => n.issuedUpTo === issuedUpTo && sameScopes(n.scopes, c.scopes))) return;
  list.push({ scopes: [...c.scopes], issuedUpTo, until: c.expiresAt.getTime() });
  map.set(c.subject, list);
}

function sameScopes(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s) => b.includes(s));
}

function narrowedAway(list: Narrowing[] | undefined, t: TokenFacts): boolean {
  return Boolean(list?.some((n) => t.iat <= n.issuedUpTo && n.scopes.some((s) => t.scopes.includes(s))));
}
