// The guarded fetch (src/lib/guarded-fetch.ts): which outbound URLs and
// addresses are refused, that a name is resolved once and the connection goes
// to the address checked, that redirects are returned rather than followed,
// and the timeout and size cap. Real servers on 127.0.0.1 (allowLoopback);
// DNS through an injected resolver.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkOutboundUrl, guardedFetch, isPublicAddress, type Lookup, OutboundRefusedError } from "../../src/lib/guarded-fetch.ts";

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(OutboundRefusedError);
    return (err as OutboundRefusedError).reason;
  }
  return "accepted";
}

async function refusalOf(promise: Promise<unknown>): Promise<{ reason: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(OutboundRefusedError);
    return { reason: (err as OutboundRefusedError).reason, message: (err as Error).message };
  }
  return { reason: "accepted", message: "" };
}

describe("checkOutboundUrl: IP literals that are not public", () => {
  it.each([
    ["loopback", "https://127.0.0.1/hook"],
    ["loopback, elsewhere in 127/8", "https://127.8.9.10/"],
    ["loopback v6", "https://[::1]/"],
    ["private 10/8", "https://10.1.2.3/"],
    ["private 172.16/12", "https://172.16.0.1/"],
    ["private 172.16/12, top", "https://172.31.255.255/"],
    ["private 192.168/16", "https://192.168.1.1/"],
    ["unique local fc00::/7", "https://[fc00::1]/"],
    ["unique local fd00::/8", "https://[fd12:3456::1]/"],
    ["link-local", "https://169.254.1.1/"],
    ["link-local v6", "https://[fe80::1]/"],
    ["site-local v6 (deprecated)", "https://[fec0::1]/"],
    ["carrier-grade NAT", "https://100.64.0.1/"],
    ["carrier-grade NAT, top", "https://100.127.255.254/"],
    ["multicast", "https://224.0.0.1/"],
    ["multicast, top", "https://239.255.255.250/"],
    ["multicast v6", "https://[ff02::1]/"],
    ["this network 0/8", "https://0.0.0.0/"],
    ["this network, another", "https://0.1.2.3/"],
    ["unspecified v6", "https://[::]/"],
    ["broadcast", "https://255.255.255.255/"],
    ["reserved 240/4", "https://240.0.0.1/"],
    ["IETF protocol assignments", "https://192.0.0.8/"],
    ["documentation TEST-NET-1", "https://192.0.2.1/"],
    ["documentation TEST-NET-2", "https://198.51.100.1/"],
    ["documentation TEST-NET-3", "https://203.0.113.1/"],
    ["benchmarking 198.18/15", "https://198.19.0.1/"],
    ["documentation v6", "https://[2001:db8::1]/"],
    ["documentation v6 3fff::/20", "https://[3fff::1]/"],
    ["benchmarking v6", "https://[2001:2::1]/"],
    ["cloud metadata v4", "https://169.254.169.254/latest/meta-data/"],
    ["cloud metadata v6 (AWS)", "https://[fd00:ec2::254]/"],
    ["Alibaba metadata (carrier-grade NAT)", "https://100.100.100.200/"],
    ["IPv4-mapped loopback", "https://[::ffff:127.0.0.1]/"],
    ["IPv4-mapped loopback, hex", "https://[::ffff:7f00:1]/"],
    ["IPv4-mapped private, long form", "https://[0:0:0:0:0:ffff:a00:1]/"],
    ["IPv4-mapped metadata", "https://[::ffff:169.254.169.254]/"],
    ["IPv4-mapped public (refused too: use the IPv4 address)", "https://[::ffff:8.8.8.8]/"],
    ["IPv4-compatible loopback", "https://[::127.0.0.1]/"],
    ["NAT64 with loopback", "https://[64:ff9b::127.0.0.1]/"],
    ["NAT64 with private, hex", "https://[64:ff9b::a00:1]/"],
    ["NAT64 with metadata", "https://[64:ff9b::a9fe:a9fe]/"],
    ["NAT64 local-use prefix", "https://[64:ff9b:1::8.8.8.8]/"],
    ["6to4 with private", "https://[2002:c0a8:101::1]/"],
    ["6to4 with loopback", "https://[2002:7f00:1::]/"],
    ["Teredo with private server", "https://[2001:0:a00:1::1]/"],
    ["Teredo with private client (inverted)", "https://[2001:0:808:808::f5fe:fefe]/"],
    ["discard-only v6", "https://[100::1]/"],
    ["decimal spelling of 127.0.0.1", "https://2130706433/"],
    ["octal spelling of 127.0.0.1", "https://0177.0.0.1/"],
    ["hex spelling of 127.0.0.1", "https://0x7f.1/"],
    ["short spelling of 127.0.0.1", "https://127.1/"],
    ["percent-encoded 127.0.0.1", "https://%31%32%37.0.0.1/"],
    ["decimal spelling of 10.0.0.1", "https://167772161/"],
    ["hex spelling of 169.254.169.254", "https://0xa9fea9fe/"],
    ["bare 0", "https://0/"],
    ["with a port", "https://10.0.0.1:8443/"],
  ])("%s: %s is refused as private_address", (_label, url) => {
    expect(refusal(() => checkOutboundUrl(url))).toBe("private_address");
    // allowLoopback opens loopback only, never the rest (nor mapped or NAT64 loopback)
    if (!/^loopback|spelling of 127|encoded 127|^short/.test(_label)) {
      expect(refusal(() => checkOutboundUrl(url, { allowLoopback: true }))).toBe("private_address");
    }
  });

  it("the WHATWG parser turns odd IPv4 spellings into dotted quads before the check", () => {
    for (const odd of ["https://2130706433/", "https://0177.0.0.1/", "https://0x7f.1/", "https://127.1/"]) {
      expect(checkOutboundUrl(odd, { allowLoopback: true }).host).toBe("127.0.0.1");
    }
  });
});

describe("checkOutboundUrl: names, schemes and the URL's shape", () => {
  it.each([
    ["internal_name", "https://localhost/"],
    ["internal_name", "https://LOCALHOST./"],
    ["internal_name", "https://hooks.localhost/"],
    ["internal_name", "https://metadata.google.internal/computeMetadata/v1/"],
    ["internal_name", "https://metadata.google.internal./"],
    ["internal_name", "https://metadata/"],
    ["internal_name", "https://metadata.goog/"],
    ["internal_name", "https://instance-data.ec2.internal/"],
    ["internal_name", "https://anything.internal/"],
    ["internal_name", "https://printer.local/"],
    ["internal_name", "https://router.home.arpa/"],
    ["internal_name", "https://intranet/"],
    ["not_https", "http://example.com/hook"],
    ["not_https", "http://8.8.8.8/"],
    ["not_https", "ftp://example.com/"],
    ["not_https", "file:///etc/passwd"],
    ["not_https", "gopher://example.com/"],
    ["not_https", "ws://example.com/"],
    ["not_https", "javascript:alert(1)"],
    ["not_https", "data:text/plain,hi"],
    ["userinfo", "https://user:secret@example.com/"],
    ["userinfo", "https://user@example.com/"],
    ["userinfo", "https://:secret@example.com/"],
    ["fragment", "https://example.com/hook#x"],
    ["fragment", "https://example.com/hook#"],
    ["invalid_url", "example.com/hook"],
    ["invalid_url", "https://"],
    ["invalid_url", ""],
  ])("%s: %s", (reason, url) => {
    expect(refusal(() => checkOutboundUrl(url))).toBe(reason);
  });

  it.each([
    "https://example.com/hooks?x=1",
    "https://hooks.example.com:8443/a/b",
    "https://example.com./",
    "https://8.8.8.8/",
    "https://1.1.1.1:443/",
    "https://172.32.0.1/", // just past 172.16/12
    "https://100.128.0.1/", // just past 100.64/10
    "https://169.255.0.1/",
    "https://[2606:4700:4700::1111]/",
    "https://[2a00:1450:4001:81b::200e]/",
    "https://[64:ff9b::8.8.8.8]/", // NAT64 carrying a public IPv4
    "https://[2002:808:808::1]/", // 6to4 carrying a public IPv4
  ])("accepts %s", (url) => {
    expect(refusal(() => checkOutboundUrl(url))).toBe("accepted");
  });

  it("allowLoopback allows http and https to loopback and localhost only", () => {
    for (const url of [
      "http://127.0.0.1:3000/hook",
      "https://127.0.0.1/",
      "http://[::1]:8080/",
      "http://localhost:3000/",
      "https://hooks.localhost/",
    ]) {
      expect(refusal(() => checkOutboundUrl(url, { allowLoopback: true }))).toBe("accepted");
      expect(refusal(() => checkOutboundUrl(url))).not.toBe("accepted");
    }
    expect(refusal(() => checkOutboundUrl("http://example.com/", { allowLoopback: true }))).toBe("not_https");
    expect(refusal(() => checkOutboundUrl("http://10.0.0.1/", { allowLoopback: true }))).toBe("not_https");
    expect(refusal(() => checkOutboundUrl("https://10.0.0.1/", { allowLoopback: true }))).toBe("private_address");
  });

  it("error messages name the host, never the path, query or credentials", () => {
    for (const url of [
      "https://u:hunter2@example.com/secret?token=abc",
      "http://example.com/secret?token=abc",
      "https://10.0.0.1/secret?token=abc",
    ]) {
      try {
        checkOutboundUrl(url);
        expect.unreachable();
      } catch (err) {
        expect((err as Error).message).not.toMatch(/hunter2|secret|token|abc/);
      }
    }
  });

  it("isPublicAddress on a few resolved forms", () => {
    expect(isPublicAddress("93.184.215.14")).toBe(true);
    expect(isPublicAddress("::ffff:93.184.215.14")).toBe(false);
    expect(isPublicAddress("2001:4860:4860::8888")).toBe(true);
    expect(isPublicAddress("not an address")).toBe(false);
  });
});

// --- requests -------------------------------------------------------------

const FAST = { timeoutMs: 2000, maxResponseBytes: 1024 };

/** An injected resolver that answers `addresses` for every name and counts its calls. */
function resolver(...addresses: string[]): Lookup & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (name: string) => {
    calls.push(name);
    return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

interface Seen {
  host?: string;
  url?: string;
  method?: string;
  body?: string;
}

let plain: http.Server;
let plainPort: number;
let target: http.Server;
let targetPort: number;
const targetHits: string[] = [];
const seen: Seen = {};
let tls: https.Server | undefined;
let tlsPort = 0;
let cert = "";
const sni: (string | undefined)[] = [];
let certDir: string | undefined;

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  target = http.createServer((req, res) => {
    targetHits.push(req.url ?? "");
    res.end("target");
  });
  targetPort = await listen(target);
  plain = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      Object.assign(seen, { host: req.headers.host, url: req.url, method: req.method, body });
      if (req.url === "/redirect") {
        res.writeHead(302, { location: `http://127.0.0.1:${targetPort}/stolen` }).end();
      } else if (req.url === "/slow") {
        res.writeHead(200);
        res.write("partial");
        // never ends: the timeout must
      } else if (req.url === "/big-declared") {
        res.writeHead(200, { "content-length": "5000" }).end("x".repeat(5000));
      } else if (req.url === "/big-chunked") {
        res.writeHead(200);
        for (let i = 0; i < 20; i++) res.write("y".repeat(100));
        res.end();
      } else {
        res.writeHead(201, { "x-answer": "yes" }).end("hello");
      }
    });
  });
  plainPort = await listen(plain);

  // A self-signed certificate for hooks.example.test, made with openssl when it is there.
  try {
    certDir = mkdtempSync(join(tmpdir(), "guarded-fetch-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=hooks.example.test",
        "-addext",
        "subjectAltName=DNS:hooks.example.test",
        "-keyout",
        join(certDir, "key.pem"),
        "-out",
        join(certDir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    cert = readFileSync(join(certDir, "cert.pem"), "utf8");
    tls = https.createServer({ key: readFileSync(join(certDir, "key.pem")), cert }, (req, res) => {
      res.end(`host=${req.headers.host}`);
    });
    tls.on("secureConnection", (socket) => sni.push((socket as unknown as { servername?: string }).servername));
    tlsPort = await listen(tls);
  } catch {
    tls = undefined;
  }
});

afterAll(async () => {
  plain.closeAllConnections();
  await Promise.all([plain, target, tls].filter(Boolean).map((s) => new Promise((r) => s!.close(r))));
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

describe("guardedFetch: DNS is checked once, and the connection goes to the checked address", () => {
  it("refuses a name that resolves to a private address, without connecting", async () => {
    const lookup = resolver("10.0.0.5");
    const r = await refusalOf(guardedFetch("https://hooks.example.com/x", {}, { ...FAST, lookup }));
    expect(r.reason).toBe("private_address");
    expect(r.message).toContain("hooks.example.com");
    expect(lookup.calls).toEqual(["hooks.example.com"]);
  });

  it("refuses a name that resolves to a public and a private address", async () => {
    const lookup = resolver("93.184.215.14", "169.254.169.254");
    expect((await refusalOf(guardedFetch("https://hooks.example.com/", {}, { ...FAST, lookup }))).reason).toBe("private_address");
  });

  it("refuses a name that resolves to an IPv4-mapped loopback, even with allowLoopback", async () => {
    const lookup = resolver("::ffff:127.0.0.1");
    const r = await refusalOf(guardedFetch("https://hooks.example.com/", {}, { ...FAST, lookup, allowLoopback: true }));
    expect(r.reason).toBe("private_address");
  });

  it("a name resolving to loopback is refused without allowLoopback", async () => {
    const lookup = resolver("127.0.0.1");
    expect((await refusalOf(guardedFetch(`https://hooks.example.com:${plainPort}/`, {}, { ...FAST, lookup }))).reason).toBe(
      "private_address",
    );
  });

  it("a lookup failure is dns_failed, and an empty answer too", async () => {
    const failing: Lookup = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND nowhere.example"), { code: "ENOTFOUND" });
    };
    const r = await refusalOf(guardedFetch("https://nowhere.example/", {}, { ...FAST, lookup: failing }));
    expect(r).toEqual({ reason: "dns_failed", message: "The host nowhere.example could not be resolved (ENOTFOUND)." });
    expect((await refusalOf(guardedFetch("https://nowhere.example/", {}, { ...FAST, lookup: resolver() }))).reason).toBe("dns_failed");
  });

  it("the URL is checked again at request time", async () => {
    const lookup = resolver("93.184.215.14");
    expect((await refusalOf(guardedFetch("https://169.254.169.254/", {}, { ...FAST, lookup }))).reason).toBe("private_address");
    expect((await refusalOf(guardedFetch("http://example.com/", {}, { ...FAST, lookup }))).reason).toBe("not_https");
    expect(lookup.calls).toEqual([]);
  });

  it("a loopback http request: resolved once, Host header is the name, method and body sent, answer returned", async () => {
    const lookup = resolver("127.0.0.1");
    const res = await guardedFetch(
      `http://localhost:${plainPort}/hook?a=1`,
      { method: "POST", headers: { "content-type": "application/json" }, body: '{"x":1}' },
      { ...FAST, allowLoopback: true, lookup },
    );
    expect(res.status).toBe(201);
    expect(res.headers["x-answer"]).toBe("yes");
    expect(res.text()).toBe("hello");
    expect(lookup.calls).toEqual(["localhost"]); // one lookup; the socket asked nothing more
    expect(seen).toEqual({ host: `localhost:${plainPort}`, url: "/hook?a=1", method: "POST", body: '{"x":1}' });
  });

  it("the socket connects to the resolver's address, not to a fresh lookup of the name", async () => {
    // The system would resolve localhost to 127.0.0.1, where the server listens; the checked address is 127.0.0.2, where nothing does.
    const lookup = resolver("127.0.0.2");
    const r = await refusalOf(guardedFetch(`http://localhost:${plainPort}/`, {}, { ...FAST, allowLoopback: true, lookup }));
    expect(r.reason).toBe("connect_failed");
    expect(lookup.calls).toEqual(["localhost"]);
  });

  it("a loopback IP literal needs no lookup at all", async () => {
    const lookup = resolver("10.0.0.1");
    const res = await guardedFetch(`http://127.0.0.1:${plainPort}/`, {}, { ...FAST, allowLoopback: true, lookup });
    expect(res.status).toBe(201);
    expect(lookup.calls).toEqual([]);
  });

  it("https: connects to the checked address, sends the name as SNI and Host, and checks the certificate against the name", async (ctx) => {
    if (!tls) ctx.skip();
    // hooks.example.test is in no DNS: an answer proves that the socket used the checked address.
    const lookup = resolver("127.0.0.1");
    const url = `https://hooks.example.test:${tlsPort}/`;
    const res = await guardedFetch(url, {}, { ...FAST, allowLoopback: true, lookup, ca: cert });
    expect(res.text()).toBe(`host=hooks.example.test:${tlsPort}`);
    expect(sni.at(-1)).toBe("hooks.example.test");
    expect(lookup.calls).toEqual(["hooks.example.test"]);

    // Without the certificate trusted: refused as tls_failed.
    expect((await refusalOf(guardedFetch(url, {}, { ...FAST, allowLoopback: true, lookup }))).reason).toBe("tls_failed");
    // A name the certificate does not cover, at the same address: refused too.
    const other = await refusalOf(
      guardedFetch(`https://other.example.test:${tlsPort}/`, {}, { ...FAST, allowLoopback: true, lookup, ca: cert }),
    );
    expect(other.reason).toBe("tls_failed");
  });
});

describe("guardedFetch: redirects, timeout, size", () => {
  it("returns a 302 as the answer and never requests its Location", async () => {
    const before = targetHits.length;
    const res = await guardedFetch(`http://127.0.0.1:${plainPort}/redirect`, {}, { ...FAST, allowLoopback: true });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`http://127.0.0.1:${targetPort}/stolen`);
    await new Promise((r) => setTimeout(r, 50));
    expect(targetHits.length).toBe(before);
  });

  it("a receiver that does not finish within timeoutMs is a timeout", async () => {
    const started = Date.now();
    const r = await refusalOf(guardedFetch(`http://127.0.0.1:${plainPort}/slow`, {}, { ...FAST, timeoutMs: 200, allowLoopback: true }));
    expect(r.reason).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("a lookup that hangs is a timeout too", async () => {
    const hanging: Lookup = () => new Promise(() => {});
    const r = await refusalOf(guardedFetch("https://hooks.example.com/", {}, { ...FAST, timeoutMs: 100, lookup: hanging }));
    expect(r.reason).toBe("timeout");
  });

  it("a connection refused is connect_failed", async () => {
    const closed = http.createServer();
    const port = await listen(closed);
    await new Promise((r) => closed.close(r));
    const r = await refusalOf(guardedFetch(`http://127.0.0.1:${port}/`, {}, { ...FAST, allowLoopback: true }));
    expect(r).toEqual({ reason: "connect_failed", message: "The connection to 127.0.0.1 failed (ECONNREFUSED)." });
  });

  it("a body over maxResponseBytes is too_large, whether declared or streamed", async () => {
    for (const path of ["/big-declared", "/big-chunked"]) {
      const r = await refusalOf(guardedFetch(`http://127.0.0.1:${plainPort}${path}`, {}, { ...FAST, allowLoopback: true }));
      expect(r.reason).toBe("too_large");
    }
    const fits = await guardedFetch(
      `http://127.0.0.1:${plainPort}/big-chunked`,
      {},
      { ...FAST, maxResponseBytes: 2000, allowLoopback: true },
    );
    expect(fits.body.length).toBe(2000);
  });
});
