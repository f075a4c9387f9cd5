import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { BlockList, isIP } from "node:net";
import { ipv6Groups } from "./ip.ts";

/**
 * The one way to fetch a URL that a user supplied (webhook endpoints now;
 * connector issuers and client metadata documents later), so that nobody can
 * point scopegate at its own network (SSRF): the loopback interface, private
 * and link-local ranges, the cloud metadata service.
 *
 * checkOutboundUrl() is the synchronous check at registration time (the
 * URL's shape, and the host when it is an IP literal or a reserved name).
 * guardedFetch() repeats it at every request, resolves the name once, refuses
 * if any address is not public, and connects to exactly the address it
 * checked (no second lookup that DNS rebinding could answer differently).
 * Redirects are never followed: a 3xx is the answer.
 */

export type OutboundRefusal =
  /** not an absolute URL */
  | "invalid_url"
  /** not https (plain http is allowed only to loopback, with allowLoopback) */
  | "not_https"
  /** user:password@ in the URL */
  | "userinfo"
  /** a #fragment in the URL */
  | "fragment"
  /** an IP literal, or a resolved address, that is not a public unicast address */
  | "private_address"
  /** a name that is internal by definition: localhost, metadata services, single labels, .internal, .local */
  | "internal_name"
  /** the name did not resolve */
  | "dns_failed"
  /** the connection failed or was reset */
  | "connect_failed"
  /** the TLS handshake or the certificate check failed */
  | "tls_failed"
  /** no complete answer within timeoutMs */
  | "timeout"
  /** the answer's body is larger than maxResponseBytes */
  | "too_large";

/** Why an outbound request was refused or failed; the message names the host only, never the path, query or credentials. */
export class OutboundRefusedError extends Error {
  constructor(
    readonly reason: OutboundRefusal,
    message: string,
  ) {
    super(message);
    this.name = "OutboundRefusedError";
  }
}

export interface OutboundUrlOptions {
  /** Allow http:// and loopback addresses (tests, local development: WEBHOOKS_ALLOW_LOOPBACK); never in production. */
  allowLoopback?: boolean;
}

// IANA special-purpose ranges that are not globally reachable (RFC 6890 and its updates).
const NON_PUBLIC_V4: [string, number][] = [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT (also Alibaba's metadata service, 100.100.100.200)
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (the cloud metadata service, 169.254.169.254)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation (TEST-NET-1)
  ["192.88.99.0", 24], // 6to4 relay anycast (deprecated)
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation (TEST-NET-2)
  ["203.0.113.0", 24], // documentation (TEST-NET-3)
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and 255.255.255.255 broadcast
];

// Inside 2000::/3 (the only global unicast IPv6 space): what is still not public.
const NON_PUBLIC_V6_GLOBAL: [string, number][] = [
  ["2001::", 23], // IETF protocol assignments (Teredo 2001::/32 is checked apart, below)
  ["2001:db8::", 32], // documentation
  ["3fff::", 20], // documentation (RFC 9637)
];

const v4List = new BlockList();
for (const [net, bits] of NON_PUBLIC_V4) v4List.addSubnet(net, bits, "ipv4");
const v6List = new BlockList();
for (const [net, bits] of NON_PUBLIC_V6_GLOBAL) v6List.addSubnet(net, bits, "ipv6");
const loopbackV4 = new BlockList();
loopbackV4.addSubnet("127.0.0.0", 8, "ipv4");

/** The groups of an IPv6 literal that `isIP` has accepted (so always eight). */
const v6Groups = (address: string): number[] => ipv6Groups(address)!;

const v4FromGroups = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;

/** Whether `address` (an IPv4 or IPv6 literal, no brackets) is loopback: 127/8 or ::1 (not ::ffff:127.0.0.1, which BlockList would match). */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return loopbackV4.check(address, "ipv4");
  return family === 6 && v6Groups(address).every((g, i) => g === (i === 7 ? 1 : 0));
}

/**
 * Whether `address` (an IPv4 or IPv6 literal, no brackets) is a public unicast
 * address that an outbound request may go to. IPv4-mapped and -compatible
 * IPv6 are refused whatever they embed (a public server has an IPv4 address
 * to use instead); NAT64, 6to4 and Teredo are judged by the IPv4 they carry.
 */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !v4List.check(address, "ipv4");
  if (family !== 6) return false;
  const g = v6Groups(address);
  // NAT64 well-known prefix 64:ff9b::/96: the IPv4 in the last 32 bits.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) {
    return isPublicAddress(v4FromGroups(g[6]!, g[7]!));
  }
  // Only 2000::/3 is global unicast: this refuses ::, ::1, ::ffff:0:0/96, ::/96,
  // 64:ff9b:1::/48, fc00::/7 (fd00:ec2::254 too), fe80::/10, fec0::/10 and ff00::/8.
  if ((g[0]! & 0xe000) !== 0x2000) return false;
  // 6to4 2002::/16: the IPv4 in bits 16-47.
  if (g[0] === 0x2002) return isPublicAddress(v4FromGroups(g[1]!, g[2]!));
  // Teredo 2001::/32: the server's IPv4 in bits 32-63, the client's inverted in the last 32.
  if (g[0] === 0x2001 && g[1] === 0) {
    return isPublicAddress(v4FromGroups(g[2]!, g[3]!)) && isPublicAddress(v4FromGroups(~g[6]! & 0xffff, ~g[7]! & 0xffff));
  }
  return !v6List.check(address, "ipv6");
}

// Names of metadata services that resolve inside a cloud, whatever the address they get.
const METADATA_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.com",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.tencentyun.com",
  "metadata.platformequinix.com",
]);
// Special-use and private-use top-level names (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal).
const INTERNAL_SUFFIXES = [".localhost", ".local", ".internal", ".home.arpa", ".localdomain", ".lan", ".intranet", ".corp"];

const isLoopbackName = (name: string) => name === "localhost" || name.endsWith(".localhost");

/** The parts of a checked URL that guardedFetch uses. */
export interface CheckedUrl {
  url: URL;
  /** The host without brackets or a trailing dot: a DNS name, or an IP literal. */
  host: string;
  /** 4 or 6 when the host is an IP literal, else 0. */
  ipFamily: 0 | 4 | 6;
}

/**
 * The check made when a URL is registered (and again before every request):
 * throws OutboundRefusedError unless `input` is an https URL without
 * credentials or fragment whose host is a public IP literal or a DNS name that
 * is not internal by definition. Plain http, loopback literals and localhost
 * are allowed only with allowLoopback. A DNS name can still resolve to a
 * private address: guardedFetch checks that at each request.
 */
export function checkOutboundUrl(input: string, options: OutboundUrlOptions = {}): CheckedUrl {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new OutboundRefusedError("invalid_url", "The URL is not an absolute URL.");
  }
  // The WHATWG parser has already turned 2130706433, 0177.0.0.1 and 0x7f.1 into 127.0.0.1.
  const host = url.hostname
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "")
    .toLowerCase();
  const where = host ? ` (host ${url.hostname})` : "";
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new OutboundRefusedError("not_https", `The URL must use https${where}.`);
  }
  if (url.username || url.password) {
    throw new OutboundRefusedError("userinfo", `The URL must not hold a user name or password${where}.`);
  }
  // An empty fragment ("https://x/#") leaves url.hash empty, so look at the text too.
  if (url.hash || input.includes("#")) throw new OutboundRefusedError("fragment", `The URL must not have a #fragment${where}.`);
  if (!host) throw new OutboundRefusedError("invalid_url", "The URL has no host.");
  const family = isIP(host) as 0 | 4 | 6;
  const loopback = family !== 0 ? isLoopbackAddress(host) : isLoopbackName(host);
  const allowedLoopback = options.allowLoopback === true && loopback;
  if (url.protocol === "http:" && !allowedLoopback) {
    throw new OutboundRefusedError("not_https", `The URL must use https${where}.`);
  }
  if (family !== 0) {
    if (!allowedLoopback && !isPublicAddress(host)) {
      throw new OutboundRefusedError("private_address", `The address ${url.hostname} is not a public address.`);
    }
  } else if (!allowedLoopback) {
    if (loopback || METADATA_NAMES.has(host) || !host.includes(".") || INTERNAL_SUFFIXES.some((suffix) => host.endsWith(suffix))) {
      throw new OutboundRefusedError("internal_name", `The host ${url.hostname} is an internal name.`);
    }
  }
  return { url, host, ipFamily: family };
}

export type Lookup = (hostname: string, options: { all: true; verbatim: true }) => Promise<LookupAddress[]>;

const systemLookup: Lookup = (hostname, options) =>
  new Promise((resolve, reject) => dnsLookup(hostname, options, (err, addresses) => (err ? reject(err) : resolve(addresses))));

export interface GuardedFetchOptions extends OutboundUrlOptions {
  /** The whole request, from the lookup to the last byte of the body. */
  timeoutMs: number;
  /** The largest body read; a larger one is refused as too_large. */
  maxResponseBytes: number;
  /** Replaces dns.lookup (tests). */
  lookup?: Lookup;
  /** Extra trusted certificate authorities (tests with a self-signed certificate). */
  ca?: string | Buffer;
}

export interface GuardedRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Aborts the request early (besides timeoutMs). */
  signal?: AbortSignal;
}

export interface GuardedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** At most maxResponseBytes. */
  body: Buffer;
  /** The body as UTF-8 text. */
  text(): string;
}

/**
 * One request to a user-supplied URL (see the top of this file). Resolves
 * with the answer whatever its status (a 3xx is not followed); throws
 * OutboundRefusedError when the URL or an address it resolves to is refused,
 * and on DNS, connection, TLS, timeout and size failures.
 */
export async function guardedFetch(input: string, init: GuardedRequestInit, options: GuardedFetchOptions): Promise<GuardedResponse> {
  const { url, host, ipFamily } = checkOutboundUrl(input, options);
  const allowed = (address: string) => isPublicAddress(address) || (options.allowLoopback === true && isLoopbackAddress(address));
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = init.signal ? AbortSignal.any([timeout, init.signal]) : timeout;
  const timedOut = () => new OutboundRefusedError("timeout", `No answer from ${url.hostname} within ${options.timeoutMs} ms.`);

  // Resolve once; every address must pass, as the connection could otherwise be steered to the bad one.
  let address: LookupAddress;
  if (ipFamily !== 0) address = { address: host, family: ipFamily };
  else {
    let addresses: LookupAddress[];
    try {
      addresses = await abortable((options.lookup ?? systemLookup)(host, { all: true, verbatim: true }), signal);
    } catch (err) {
      if (signal.aborted) throw timedOut();
      throw new OutboundRefusedError("dns_failed", `The host ${url.hostname} could not be resolved${codeOf(err)}.`);
    }
    if (addresses.length === 0) throw new OutboundRefusedError("dns_failed", `The host ${url.hostname} could not be resolved.`);
    if (!addresses.every((a) => allowed(a.address))) {
      throw new OutboundRefusedError("private_address", `The host ${url.hostname} resolves to an address that is not public.`);
    }
    address = addresses[0]!;
  }
  if (!allowed(address.address)) {
    throw new OutboundRefusedError("private_address", `The address ${url.hostname} is not a public address.`);
  }

  const body = init.body === undefined ? undefined : Buffer.from(init.body);
  const headers: Record<string, string> = { ...init.headers };
  if (body) headers["content-length"] = String(body.length);
  const secure = url.protocol === "https:";
  const requestOptions: https.RequestOptions = {
    method: init.method ?? "GET",
    // `host` stays the name: it becomes the Host header, the TLS servername (SNI) and the name the certificate is checked against.
    host,
    port: url.port || (secure ? 443 : 80),
    path: `${url.pathname}${url.search}`,
    headers,
    // No pooled socket: each request connects to the address it has just checked.
    agent: false,
    // The only address the socket may connect to: the one checked above (net.connect asks with `all` when it tries both families).
    lookup: ((_name: string, opts: { all?: boolean }, callback: (...args: unknown[]) => void) => {
      if (opts?.all) callback(null, [{ address: address.address, family: address.family }]);
      else callback(null, address.address, address.family);
    }) as unknown as https.RequestOptions["lookup"],
    signal,
    ...(secure && options.ca ? { ca: options.ca } : {}),
  };

  return new Promise<GuardedResponse>((resolve, reject) => {
    const fail = (err: unknown) => {
      if (err instanceof OutboundRefusedError) reject(err);
      else if (signal.aborted) reject(timedOut());
      else if (isTlsError(err))
        reject(new OutboundRefusedError("tls_failed", `The TLS connection to ${url.hostname} failed${codeOf(err)}.`));
      else reject(new OutboundRefusedError("connect_failed", `The connection to ${url.hostname} failed${codeOf(err)}.`));
    };
    const req = (secure ? https : http).request(requestOptions, (res) => {
      const tooLarge = () =>
        new OutboundRefusedError("too_large", `The answer from ${url.hostname} is larger than ${options.maxResponseBytes} bytes.`);
      const declared = Number(res.headers["content-length"]);
      if (Number.isFinite(declared) && declared > options.maxResponseBytes) {
        res.destroy();
        fail(tooLarge());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxResponseBytes) {
          res.destroy();
          fail(tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => {
        const all = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: all, text: () => all.toString("utf8") });
      });
      res.on("error", fail);
      // A connection closed before the whole body arrived: not an answer.
      res.on("close", () => {
        if (!res.complete) fail(new Error("incomplete"));
      });
    });
    req.on("error", fail);
    req.end(body);
  });
}

/** The promise, or a rejection as soon as `signal` aborts (dns.lookup itself cannot be cancelled). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** " (CODE)" for a Node system error; its message could name more than the host. */
function codeOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^[A-Z0-9_]+$/.test(code) ? ` (${code})` : "";
}

function isTlsError(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? "");
  return /^ERR_TLS|^ERR_SSL|CERT|SELF_SIGNED|UNABLE_TO_VERIFY|^DEPTH_ZERO|HOSTNAME|ALTNAME/.test(code);
}
