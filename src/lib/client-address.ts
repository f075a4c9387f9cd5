import { BlockList, isIP } from "node:net";
import { ipv6Groups } from "./ip.ts";
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";

/**
 * Who is asking, for abuse limits (sign-in, sign-up, and every later limit
 * per address): the socket's peer, unless that peer is a proxy named in
 * TRUST_PROXY, in which case X-Forwarded-For is read from the right, each
 * trusted hop giving way to the address it names, and the first untrusted
 * address is the client. Anything left of it was written by the client and is
 * never believed, so a client cannot pick its own bucket.
 */

/** The proxies whose X-Forwarded-For is believed; empty believes none. */
export class TrustedProxies {
  private readonly list = new BlockList();
  readonly size: number;

  /** `entries`: IP addresses and CIDR ranges, as checked by parseTrustProxy. */
  constructor(entries: readonly string[] = []) {
    for (const entry of entries) {
      const [ip, bits] = entry.split("/") as [string, string | undefined];
      const family = isIP(ip) === 6 ? "ipv6" : "ipv4";
      if (bits === undefined) this.list.addAddress(ip, family);
      else this.list.addSubnet(ip, Number(bits), family);
    }
    this.size = entries.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const family = isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? "ipv6" : "ipv4");
  }
}

/**
 * TRUST_PROXY's value (comma- or space-separated IPs and CIDRs) as a list, or
 * a message naming the entry that is neither.
 */
export function parseTrustProxy(value: string): { ok: true; entries: string[] } | { ok: false; message: string } {
  const entries: string[] = [];
  for (const raw of value.split(/[\s,]+/).filter(Boolean)) {
    const [ip = "", bits, extra] = raw.split("/");
    const family = isIP(ip);
    const max = family === 6 ? 128 : 32;
    const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !okBits || extra !== undefined) {
      return { ok: false, message: `TRUST_PROXY must list IP addresses or CIDR ranges such as 10.0.0.0/8 or ::1 (got "${raw}")` };
    }
    const address = normalizeAddress(ip)!;
    if (bits === undefined) entries.push(address);
    // An IPv4-mapped range (::ffff:10.0.0.0/104) is the IPv4 range it maps, as peers are compared in IPv4.
    else if (family === 6 && isIP(address) === 4) {
      if (Number(bits) < 96) return { ok: false, message: `TRUST_PROXY: an IPv4-mapped range needs a prefix of 96 or more (got "${raw}")` };
      entries.push(`${address}/${Number(bits) - 96}`);
    } else entries.push(`${address}/${Number(bits)}`);
  }
  return { ok: true, entries };
}

/**
 * An address as we compare and count it, or null when it is not one: IPv4
 * written plainly (also when it arrives IPv4-mapped, `::ffff:1.2.3.4`), IPv6
 * in lower case, without brackets or a port (`[::1]:443`, `1.2.3.4:80`, which
 * some proxies write).
 */
export function normalizeAddress(raw: string | undefined): string | null {
  if (!raw) return null;
  let a = raw.trim();
  const bracketed = a.match(/^\[([^\]]+)\](?::\d+)?$/);
  if (bracketed) a = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  const zone = a.indexOf("%");
  if (zone !== -1) a = a.slice(0, zone);
  const family = isIP(a);
  if (family === 0) return null;
  if (family === 4) return a;
  const lower = a.toLowerCase();
  const mapped = lower.match(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/);
  return mapped ? mapped[1]! : lower;
}

/** The client's address from the socket peer and X-Forwarded-For (see the top of this file); "unknown" without a peer. */
export function clientAddress(peer: string | undefined, forwardedFor: string | undefined, trusted: TrustedProxies): string {
  let current = normalizeAddress(peer);
  if (!current) return "unknown";
  if (!forwardedFor || !trusted.has(current)) return current;
  const hops = forwardedFor.split(",");
  for (let i = hops.length - 1; i >= 0 && trusted.has(current); i--) {
    const hop = normalizeAddress(hops[i]);
    // Garbage where a trusted proxy's entry should be: believe nothing further left, keep the last trusted hop.
    if (!hop) break;
    current = hop;
  }
  return current;
}

/** clientAddress for a Hono request served by @hono/node-server. */
export function requestAddress(c: Context, trusted: TrustedProxies): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined;
  }
  // Several X-Forwarded-For headers are one list, in order (RFC 9110 5.3); the Fetch API joins them with ", ".
  return clientAddress(peer, c.req.header("x-forwarded-for"), trusted);
}

/**
 * What an address limit counts by: the address itself for IPv4, its /64 for
 * IPv6, since one subscriber holds a whole /64 and could otherwise take a new
 * address for every guess.
 */
export function addressLimitKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const groups = ipv6Groups(address);
  return groups
    ? `${groups
        .slice(0, 4)
        .map((g) => g.toString(16))
        .join(":")}::/64`
    : address;
}
