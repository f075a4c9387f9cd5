/**
 * Client ID Metadata Documents served the way an app serves them: over https,
 * here from 127.0.0.1 with a certificate from a test certificate authority
 * made with openssl in a temporary folder. In-process code trusts it through
 * the `ca` option; a scopegate child process through NODE_EXTRA_CA_CERTS=caFile.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificates {
  /** the CA certificate's file (for NODE_EXTRA_CA_CERTS) and PEM */
  caFile: string;
  ca: string;
  /** a certificate for 127.0.0.1, ::1 and localhost, signed by the CA */
  key: string;
  cert: string;
  /** removes the folder */
  remove(): void;
}

/** A CA and a server certificate for the loopback names, valid for a day. */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), "scopegate-cimd-"));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl([
    "req",
    "-x509",
    ...ec,
    "-days",
    "1",
    "-subj",
    "/CN=scopegate test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.pem"),
  ]);
  openssl(["req", ...ec, "-subj", "/CN=127.0.0.1", "-keyout", file("server.key"), "-out", file("server.csr")]);
  writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  openssl([
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  ]);
  return {
    caFile: file("ca.pem"),
    ca: readFileSync(file("ca.pem"), "utf8"),
    key: readFileSync(file("server.key"), "utf8"),
    cert: readFileSync(file("server.pem"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface Answer {
  status?: number;
  headers?: Record<string, string>;
  /** an object is sent as JSON */
  body: unknown;
}

/** An https server on 127.0.0.1 that answers each path with what `set` put there (404 otherwise), counting requests. */
export class DocumentServer {
  private readonly answers = new Map<string, Answer>();
  /** requests per path */
  readonly hits = new Map<string, number>();

  private constructor(
    private readonly server: https.Server,
    readonly origin: string,
  ) {}

  static async start(certs: Pick<TestCertificates, "key" | "cert">): Promise<DocumentServer> {
    let self: DocumentServer | undefined;
    const server = https.createServer({ key: certs.key, cert: certs.cert }, (req, res) => self!.answer(req.url ?? "/", res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self = new DocumentServer(server, `https://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return self;
  }

  /** The document URL of `path`. */
  url(path: string): string {
    return `${this.origin}${path}`;
  }

  set(path: string, answer: Answer): string {
    this.answers.set(path, answer);
    return this.url(path);
  }

  /** Serves `doc` as a client metadata document whose client_id is its own URL (unless `doc` names one). */
  document(path: string, doc: Record<string, unknown>, headers: Record<string, string> = {}): string {
    return this.set(path, { body: { client_id: this.url(path), ...doc }, headers });
  }

  hitsOf(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  private answer(path: string, res: import("node:http").ServerResponse) {
    this.hits.set(path, this.hitsOf(path) + 1);
    const a = this.answers.get(path);
    if (!a) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    const text = typeof a.body === "string" ? a.body : JSON.stringify(a.body);
    res.writeHead(a.status ?? 200, { "content-type": "application/json", ...a.headers }).end(text);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
