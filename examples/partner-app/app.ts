// A minimal partner web app that connects to scopegate with OAuth 2.1 /
// OpenID Connect, using nothing but node:http and oauth4webapi.
//
// The flow: discovery -> authorization URL with PKCE S256, state and nonce ->
// scopegate's sign-in and consent pages -> /callback (validateAuthResponse
// checks iss and state) -> code exchange with client_secret_basic ->
// id_token validation (nonce) -> GraphQL with the access token: the profile,
// and with data:read the latest measurements. With data:write a small form
// records a heart-rate reading (recordMeasurement), and scopegate's
// BAD_USER_INPUT errors are shown next to the field. Plus "Refresh token"
// (the refresh token rotates) and "Disconnect" (revocation).
//
// Everything secret (PKCE verifier, state, nonce, tokens) stays on this
// server, in memory, keyed by a random HttpOnly cookie. No token is ever put
// in a URL, a page or a log line.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import * as oauth from "oauth4webapi";
import { button, connectButton, html, notice, page, SafeHtml, type Notice } from "./html.ts";

/** What the app asks for by default; the user may untick data scopes on the consent page. */
export const SCOPE = "openid offline_access profile:read data:read data:write";
/** How many measurements the page shows (me.measurements(first: ...)). */
export const MEASUREMENTS_SHOWN = 10;

const COOKIE = "partner_sid";
const SESSION_IDLE_MS = 8 * 3600 * 1000;
const PENDING_MAX_AGE_MS = 10 * 60 * 1000;
const HTTP_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 8 * 1024;

export interface PartnerAppOptions {
  /** scopegate's issuer URL (default http://localhost:4000) */
  issuer?: string;
  clientId: string;
  clientSecret: string;
  /** port to listen on (default 3000); it must match the registered redirect URI */
  port?: number;
  /** interface to listen on (default 127.0.0.1) */
  host?: string;
  /** the redirect URI registered for the client (default http://localhost:<port>/callback) */
  redirectUri?: string;
  /**
   * The scopes to ask for (default SCOPE). Each data scope must be registered for the
   * client, or scopegate refuses the request (invalid_scope).
   */
  scope?: string;
  /** where request and error lines go (default console.log); never given a token */
  log?: (line: string) => void;
}

export interface PartnerApp {
  /** the app's own base URL, e.g. http://localhost:3000 */
  url: string;
  close(): Promise<void>;
}

interface PendingAuthorization {
  state: string;
  nonce: string;
  codeVerifier: string;
  startedAt: number;
}

interface Connection {
  accessToken: string;
  accessTokenExpiresAt: number;
  refreshToken: string | undefined;
  scope: string;
  /** the validated id_token's claims */
  idToken: { sub: string; authTime: number | undefined; issuedAt: number };
  connectedAt: number;
  refreshes: number;
}

interface Session {
  id: string;
  csrf: string;
  lastSeen: number;
  pending?: PendingAuthorization;
  connection?: Connection;
  /** shown once on the next page */
  flash?: Notice;
  /** a refresh in progress: two at once would present one refresh token twice (reuse -> revoked) */
  refreshing?: Promise<void>;
  /** the heart-rate form as last submitted, with what was wrong; shown once on the next page */
  recordForm?: RecordForm;
}

interface RecordForm {
  /** the value as typed (only when it was a number) */
  value: string;
  /** shown next to the field: the BAD_USER_INPUT on input.value, or this app's own check */
  fieldError?: string;
  /** shown above the button: any other problem with the reading */
  formError?: string;
}

interface MeField {
  value: string | null;
  /** why scopegate left it out (the GraphQL error on this field) */
  refused?: string;
}

interface MeasurementRow {
  id: string;
  type: string | null;
  value: number | null;
  unit: string | null;
  recordedAt: string | null;
}

/** me.measurements: the latest readings, or why there are none to show. */
type Measurements =
  | { kind: "list"; rows: MeasurementRow[]; hasMore: boolean }
  /** data:read was not granted, so the app did not ask */
  | { kind: "not-granted" }
  /** scopegate answered the field with an error */
  | { kind: "refused"; reason: string };

type MeResult =
  | {
      ok: true;
      id: string | null;
      fields: Record<"name" | "email" | "birthDate", MeField>;
      measurements: Measurements;
      otherErrors: string[];
    }
  | { ok: false; status: number; error: string; description: string };

/** A GraphQL error as scopegate sends it. */
interface GraphQLError {
  message?: string;
  path?: (string | number)[];
  extensions?: { code?: string; requiredScopes?: string[]; field?: string };
}

/** The answer of one POST /graphql: data and errors, or the request as a whole refused. */
type GraphQLAnswer<T> =
  | { ok: true; data: T | null; errors: GraphQLError[] }
  | { ok: false; status: number; error: string; description: string };

/** Why a field came back null, in words for the page. */
function refusal(err: GraphQLError): string {
  const code = err.extensions?.code;
  const needs = err.extensions?.requiredScopes?.length ? ` (needs ${err.extensions.requiredScopes.join(" ")})` : "";
  return code === "INSUFFICIENT_SCOPE" || code === "FORBIDDEN" ? `not shared with this app${needs}` : (err.message ?? "error");
}

const MEASUREMENT_LABELS: Record<string, string> = {
  HEART_RATE: "Heart rate",
  STEPS: "Steps",
  BODY_TEMPERATURE: "Body temperature",
  RESPIRATION_RATE: "Respiration rate",
  OXYGEN_SATURATION: "Oxygen saturation",
  WEIGHT: "Weight",
};

/** "2026-01-31 07:05 UTC" from an ISO date-time. */
function shortTime(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

const random = () => randomBytes(32).toString("base64url");

/** A short, one-way fingerprint, so a page can show that a token changed without showing it. */
export function fingerprint(token: string): string {
  return createHash("sha256").update(token).digest("base64url").slice(0, 10);
}

function sameString(a: string, b: string): boolean {
  const da = createHash("sha256").update(a).digest();
  const db = createHash("sha256").update(b).digest();
  return timingSafeEqual(da, db);
}

/** oauth4webapi refuses http:// unless told otherwise; allow it only for a local scopegate. */
export function isLocalIssuer(url: URL): boolean {
  return url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1");
}

/** What to say about a failure, without its cause (which may carry request data). */
function describeError(err: unknown): { error: string; description: string } {
  if (err instanceof oauth.ResponseBodyError || err instanceof oauth.AuthorizationResponseError) {
    return { error: err.error, description: err.error_description ?? "" };
  }
  if (err instanceof oauth.WWWAuthenticateChallengeError) {
    const bearer = err.cause.find((c) => c.scheme === "bearer") ?? err.cause[0];
    return {
      error: String(bearer?.parameters.error ?? `HTTP ${err.status}`),
      description: String(bearer?.parameters.error_description ?? ""),
    };
  }
  if (err instanceof Error) return { error: err.name, description: err.message };
  return { error: "error", description: String(err) };
}

export async function startPartnerApp(options: PartnerAppOptions): Promise<PartnerApp> {
  const issuerUrl = new URL(options.issuer ?? "http://localhost:4000");
  if (issuerUrl.protocol !== "https:" && !isLocalIssuer(issuerUrl)) {
    throw new Error("The issuer must be https (plain http is accepted only for localhost and 127.0.0.1).");
  }
  if (!options.clientId || !options.clientSecret) throw new Error("clientId and clientSecret are required.");
  const port = options.port ?? 3000;
  const host = options.host ?? "127.0.0.1";
  const redirectUri = options.redirectUri ?? `http://localhost:${port}/callback`;
  const baseUrl = new URL("/", redirectUri).origin;
  const secureCookie = baseUrl.startsWith("https:");
  const log = options.log ?? ((line: string) => console.log(line));
  const issuerBase = issuerUrl.href.replace(/\/+$/, "");
  const graphqlUrl = new URL(`${issuerBase}/graphql`);
  const scope = options.scope ?? SCOPE;

  const client: oauth.Client = { client_id: options.clientId };
  const clientAuth = oauth.ClientSecretBasic(options.clientSecret);
  const insecure = isLocalIssuer(issuerUrl);
  /** Per-request options: a timeout, and http:// allowed for a local issuer only. */
  const http_ = () => ({
    signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    ...(insecure ? { [oauth.allowInsecureRequests]: true } : {}),
  });

  // Discovery: once, on first use (so this app may start before scopegate), retried after a failure.
  let discovered: Promise<oauth.AuthorizationServer> | undefined;
  function authorizationServer(): Promise<oauth.AuthorizationServer> {
    discovered ??= (async () => {
      const res = await oauth.discoveryRequest(issuerUrl, { algorithm: "oidc", ...http_() });
      return oauth.processDiscoveryResponse(issuerUrl, res);
    })();
    discovered.catch(() => (discovered = undefined));
    return discovered;
  }

  // Sessions: in memory, keyed by a random cookie value.
  const sessions = new Map<string, Session>();
  const sweep = setInterval(() => {
    const cutoff = Date.now() - SESSION_IDLE_MS;
    for (const [id, s] of sessions) if (s.lastSeen < cutoff) sessions.delete(id);
  }, 60_000);
  sweep.unref();

  function readSession(req: http.IncomingMessage): Session | undefined {
    for (const part of (req.headers.cookie ?? "").split(";")) {
      const eq = part.indexOf("=");
      if (eq < 0 || part.slice(0, eq).trim() !== COOKIE) continue;
      const session = sessions.get(part.slice(eq + 1).trim());
      if (session && session.lastSeen >= Date.now() - SESSION_IDLE_MS) {
        session.lastSeen = Date.now();
        return session;
      }
    }
    return undefined;
  }

  function setCookie(res: http.ServerResponse, session: Session) {
    res.setHeader(
      "Set-Cookie",
      `${COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${SESSION_IDLE_MS / 1000}${secureCookie ? "; Secure" : ""}`,
    );
  }

  function newSession(res: http.ServerResponse, from?: Session): Session {
    const session: Session = { ...from, id: random(), csrf: random(), lastSeen: Date.now() };
    if (from) sessions.delete(from.id);
    sessions.set(session.id, session);
    setCookie(res, session);
    return session;
  }

  function send(res: http.ServerResponse, status: number, body: string) {
    res.writeHead(status, {
      "Content-Type": "text/html; charset=utf-8",
      "Cache-Control": "no-store",
      // img-src: the "Connect with scopegate" button is scopegate's SVG (docs/branding.md).
      "Content-Security-Policy": `default-src 'none'; style-src 'unsafe-inline'; img-src ${issuerUrl.origin}; frame-ancestors 'none'; base-uri 'none'`,
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "no-referrer",
    });
    res.end(body);
  }

  function redirect(res: http.ServerResponse, location: string) {
    res.writeHead(303, { Location: location, "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" });
    res.end();
  }

  async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") return null;
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) return null;
      chunks.push(chunk as Buffer);
    }
    return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
  }

  // ---- scopegate calls ----

  const ME_QUERY = "query Me { me { id name email birthDate } }";
  // With data:read: the profile and the latest measurements in one request (newest first).
  const ME_WITH_MEASUREMENTS_QUERY = `query MeWithMeasurements($first: Int!) {
  me {
    id name email birthDate
    measurements(first: $first) { edges { node { id type value unit recordedAt } } pageInfo { hasNextPage } }
  }
}`;
  // Only the id comes back: the other fields of a Measurement need data:read, and a
  // connection may hold data:write alone. The page reads the list again anyway.
  const RECORD_MUTATION = `mutation RecordHeartRate($input: RecordMeasurementInput!) {
  recordMeasurement(input: $input) { id }
}`;

  /**
   * POST /graphql with the access token in the Authorization header (never in the
   * URL). A field scopegate refuses comes back null with an error on its path; a
   * token it refuses is a 401 with a WWW-Authenticate challenge.
   */
  async function graphql<T>(accessToken: string, query: string, variables?: Record<string, unknown>): Promise<GraphQLAnswer<T>> {
    let res: Response;
    try {
      res = await oauth.protectedResourceRequest(
        accessToken,
        "POST",
        graphqlUrl,
        new Headers({ "content-type": "application/json", accept: "application/json" }),
        JSON.stringify(variables ? { query, variables } : { query }),
        http_(),
      );
    } catch (err) {
      if (err instanceof oauth.WWWAuthenticateChallengeError) {
        const { error, description } = describeError(err);
        return { ok: false, status: err.status, error, description };
      }
      throw err;
    }
    const body = (await res.json().catch(() => null)) as { data?: T | null; errors?: GraphQLError[] } | null;
    if (!body || (!res.ok && !body.data)) {
      return { ok: false, status: res.status, error: `HTTP ${res.status}`, description: body?.errors?.[0]?.message ?? "" };
    }
    return { ok: true, data: body.data ?? null, errors: body.errors ?? [] };
  }

  type MeData = {
    me?: {
      id?: string;
      name?: string | null;
      email?: string | null;
      birthDate?: string | null;
      measurements?: {
        edges?: { node?: MeasurementRow | null }[];
        pageInfo?: { hasNextPage?: boolean } | null;
      } | null;
    } | null;
  };

  /** The user's profile and, when data:read was granted, their latest measurements. */
  async function fetchMe(accessToken: string, withMeasurements = false): Promise<MeResult> {
    const answer = withMeasurements
      ? await graphql<MeData>(accessToken, ME_WITH_MEASUREMENTS_QUERY, { first: MEASUREMENTS_SHOWN })
      : await graphql<MeData>(accessToken, ME_QUERY);
    if (!answer.ok) return answer;
    const me = answer.data?.me ?? null;
    const errors = answer.errors;
    const on = (e: GraphQLError, field: string) => e.path?.[0] === "me" && e.path[1] === field;
    const fields = {} as Record<"name" | "email" | "birthDate", MeField>;
    for (const name of ["name", "email", "birthDate"] as const) {
      const err = errors.find((e) => on(e, name));
      fields[name] = { value: me?.[name] ?? null, ...(err ? { refused: refusal(err) } : {}) };
    }
    let measurements: Measurements = { kind: "not-granted" };
    if (withMeasurements) {
      const err = errors.find((e) => on(e, "measurements"));
      const connection = me?.measurements;
      measurements =
        err || !connection
          ? { kind: "refused", reason: err ? refusal(err) : "not returned" }
          : {
              kind: "list",
              rows: (connection.edges ?? []).flatMap((e) => (e.node ? [e.node] : [])),
              hasMore: connection.pageInfo?.hasNextPage === true,
            };
    }
    const handled = ["name", "email", "birthDate", "measurements"];
    const otherErrors = errors
      .filter((e) => !(e.path?.[0] === "me" && handled.includes(String(e.path[1]))))
      .map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message ?? ""}`);
    return { ok: true, id: me?.id ?? null, fields, measurements, otherErrors };
  }

  type RecordOutcome =
    | { kind: "recorded"; id: string }
    /** BAD_USER_INPUT: what was wrong, and which input field (input.value, input.recordedAt, ...) */
    | { kind: "invalid"; field: string | undefined; message: string }
    | { kind: "refused"; code: string; message: string }
    | { kind: "token-refused"; status: number; error: string; description: string };

  /** recordMeasurement: a heart-rate reading taken now. */
  async function recordHeartRate(accessToken: string, bpm: number): Promise<RecordOutcome> {
    const answer = await graphql<{ recordMeasurement?: { id?: string } | null }>(accessToken, RECORD_MUTATION, {
      input: { type: "HEART_RATE", value: bpm, unit: "bpm", recordedAt: new Date().toISOString() },
    });
    if (!answer.ok) return { kind: "token-refused", status: answer.status, error: answer.error, description: answer.description };
    const id = answer.data?.recordMeasurement?.id;
    if (id) return { kind: "recorded", id };
    const err = answer.errors[0];
    const code = err?.extensions?.code ?? "ERROR";
    const message = err?.message ?? "scopegate did not record the reading.";
    if (code === "BAD_USER_INPUT") return { kind: "invalid", field: err?.extensions?.field, message };
    const needs = err?.extensions?.requiredScopes?.length ? ` (needs ${err.extensions.requiredScopes.join(" ")})` : "";
    return { kind: "refused", code, message: `${message}${needs}` };
  }

  function connectionFrom(tokens: oauth.TokenEndpointResponse, previous?: Connection): Connection {
    const now = Date.now();
    return {
      accessToken: tokens.access_token,
      accessTokenExpiresAt: now + (tokens.expires_in ?? 0) * 1000,
      // scopegate rotates refresh tokens: always keep the newest one.
      refreshToken: tokens.refresh_token ?? previous?.refreshToken,
      scope: tokens.scope ?? previous?.scope ?? "",
      idToken: previous?.idToken ?? { sub: "", authTime: undefined, issuedAt: 0 },
      connectedAt: previous?.connectedAt ?? now,
      refreshes: previous ? previous.refreshes + 1 : 0,
    };
  }

  // ---- routes ----

  /** The scopes the token response said were granted (the user may have unticked some). */
  function granted(conn: Connection): Set<string> {
    return new Set(conn.scope.split(" ").filter(Boolean));
  }

  function measurementsTable(m: Measurements): SafeHtml {
    if (m.kind === "not-granted") {
      return html`<p class="muted">not shared with this app (needs data:read)</p>`;
    }
    if (m.kind === "refused") return html`<p class="muted">${m.reason}</p>`;
    if (!m.rows.length) return html`<p class="muted">No measurements yet.</p>`;
    return html`<table data-testid="measurements">
<thead><tr><th scope="col">Recorded</th><th scope="col">Type</th><th scope="col">Value</th></tr></thead>
<tbody>${m.rows.map(
      (r) =>
        html`<tr><td>${shortTime(r.recordedAt)}</td><td>${MEASUREMENT_LABELS[r.type ?? ""] ?? r.type}</td><td>${r.value} ${r.unit}</td></tr>`,
    )}</tbody>
</table>${m.hasMore ? html`<p class="muted">The ${m.rows.length} latest; scopegate has more (<code>pageInfo.hasNextPage</code>).</p>` : ""}`;
  }

  /** The heart-rate form, with scopegate's BAD_USER_INPUT message next to the field. */
  function recordFormHtml(session: Session, form: RecordForm | undefined): SafeHtml {
    const invalid = form?.fieldError !== undefined;
    return html`<form method="post" action="/measurements" class="record">
<input type="hidden" name="csrf" value="${session.csrf}">
<label for="heart-rate">Heart rate (bpm)</label>
<div class="field">
<input id="heart-rate" name="value" type="number" step="any" inputmode="decimal" required value="${form?.value ?? ""}"${
      invalid ? new SafeHtml(' aria-invalid="true" aria-describedby="heart-rate-error"') : ""
    }>
${invalid ? html`<span class="field-error" id="heart-rate-error" role="alert">${form!.fieldError}</span>` : ""}
</div>
${form?.formError ? html`<p class="field-error" role="alert">${form.formError}</p>` : ""}
<button type="submit">Record reading</button>
</form>
<p class="muted">Sent as <code>recordMeasurement</code> with type <code>HEART_RATE</code>, unit <code>bpm</code> and the current time. scopegate checks the value.</p>`;
  }

  async function home(res: http.ServerResponse, session: Session) {
    const flash = session.flash;
    session.flash = undefined;
    const recordForm = session.recordForm;
    session.recordForm = undefined;
    const conn = session.connection;
    if (!conn) {
      return send(
        res,
        200,
        page(
          "Not connected",
          html`${notice(flash)}<div class="card">
<h1>Bring your health data</h1>
<p>This example app reads your profile and measurements from scopegate, and can record a heart-rate reading, with your permission.</p>
${connectButton("/connect", session.csrf, issuerBase)}
<p class="muted">Asks for: <code>${scope}</code></p>
</div>`,
        ),
      );
    }
    const scopes = granted(conn);
    // Ask for measurements only when data:read was granted; without it scopegate would
    // answer the field with null and INSUFFICIENT_SCOPE.
    const me = await fetchMe(conn.accessToken, scopes.has("data:read"));
    let data: SafeHtml;
    let health: SafeHtml = html``;
    if (me.ok) {
      const row = (label: string, f: MeField) =>
        html`<tr><th>${label}</th><td>${f.value ?? (f.refused ? html`<span class="muted">${f.refused}</span>` : html`<span class="muted">not set</span>`)}</td></tr>`;
      data = html`<table>
<tr><th>User ID</th><td><code>${me.id}</code></td></tr>
${row("Name", me.fields.name)}${row("Email", me.fields.email)}${row("Birth date", me.fields.birthDate)}
</table>${me.otherErrors.length ? html`<p class="muted">${me.otherErrors.join("; ")}</p>` : ""}`;
      health = html`<div class="card" id="measurements">
<h2>Your latest measurements (<code>me.measurements(first: ${MEASUREMENTS_SHOWN})</code>)</h2>
${measurementsTable(me.measurements)}
<h2>Record a heart-rate reading</h2>
${
  scopes.has("data:write")
    ? recordFormHtml(session, recordForm)
    : html`<p class="muted">Recording a reading needs <code>data:write</code>, which this connection was not granted.</p>`
}
</div>`;
    } else {
      data = notice({
        kind: "error",
        title: `scopegate refused the access token (${me.status} ${me.error})`,
        lines: [me.description, "Try “Refresh token”, or disconnect and connect again."].filter(Boolean),
      });
    }
    const expiresIn = Math.max(0, Math.round((conn.accessTokenExpiresAt - Date.now()) / 1000));
    send(
      res,
      200,
      page(
        "Connected",
        html`${notice(flash)}<div class="card">
<h1>Connected to scopegate${me.ok && me.fields.name.value ? html` as ${me.fields.name.value}` : ""}</h1>
<h2>Your data (from <code>POST /graphql</code>)</h2>
${data}
</div>
${health}
<div class="card">
<h2>This connection</h2>
<table>
<tr><th>Granted scopes</th><td><code>${conn.scope}</code></td></tr>
<tr><th>id_token</th><td>verified: <code>sub</code> <code data-testid="id-token-sub">${conn.idToken.sub}</code>${conn.idToken.authTime ? html`, signed in at ${new Date(conn.idToken.authTime * 1000).toISOString()}` : ""}</td></tr>
<tr><th>Access token</th><td>expires in ${expiresIn} s (fingerprint <code data-testid="access-token-fingerprint">${fingerprint(conn.accessToken)}</code>)</td></tr>
<tr><th>Refresh token</th><td>${conn.refreshToken ? html`fingerprint <code data-testid="refresh-token-fingerprint">${fingerprint(conn.refreshToken)}</code>, refreshed ${conn.refreshes} time(s)` : "none"}</td></tr>
</table>
<p class="muted">Fingerprints are the first characters of each token's SHA-256; the tokens themselves never leave this server.</p>
${conn.refreshToken ? button("/refresh", "Refresh token", session.csrf) : ""}
${button("/disconnect", "Disconnect", session.csrf, true)}
</div>`,
      ),
    );
  }

  /** POST /measurements: the heart-rate form. The answer is a redirect to the page, which shows the outcome once. */
  async function record(res: http.ServerResponse, session: Session, form: URLSearchParams) {
    // Wait for a refresh in progress: it replaces the access token.
    while (session.refreshing) await session.refreshing.catch(() => {});
    const conn = session.connection;
    if (!conn) return redirect(res, "/");
    if (!granted(conn).has("data:write")) {
      session.flash = { kind: "error", title: "Recording a reading needs data:write, which this connection was not granted.", lines: [] };
      return redirect(res, "/");
    }
    const raw = (form.get("value") ?? "").trim().slice(0, 50);
    const bpm = raw === "" ? Number.NaN : Number(raw);
    if (!Number.isFinite(bpm)) {
      // Not a number: scopegate would refuse the request as a whole (the variable is a Float).
      session.recordForm = { value: "", fieldError: "Enter the heart rate as a number, for example 72." };
      return redirect(res, "/");
    }
    const outcome = await recordHeartRate(conn.accessToken, bpm);
    switch (outcome.kind) {
      case "recorded":
        log("measurement recorded");
        session.flash = {
          kind: "ok",
          title: `Recorded a heart rate of ${bpm} bpm.`,
          lines: [`scopegate stored it as measurement ${outcome.id}.`],
        };
        break;
      case "invalid":
        log(`recording refused: BAD_USER_INPUT on ${outcome.field ?? "(no field)"}`);
        // extensions.field names the input at fault: input.value is the one field of this form.
        session.recordForm =
          outcome.field === "input.value"
            ? { value: raw, fieldError: outcome.message }
            : { value: raw, formError: `${outcome.message}${outcome.field ? ` (${outcome.field})` : ""}` };
        break;
      case "refused":
        log(`recording refused: ${outcome.code}`);
        session.flash = { kind: "error", title: `scopegate did not record the reading (${outcome.code}).`, lines: [outcome.message] };
        break;
      case "token-refused":
        log(`recording refused: ${outcome.error}`);
        session.flash = {
          kind: "error",
          title: `scopegate refused the access token (${outcome.status} ${outcome.error})`,
          lines: [outcome.description, "Try “Refresh token”, or disconnect and connect again."].filter(Boolean),
        };
        break;
    }
    redirect(res, "/");
  }

  async function connect(res: http.ServerResponse, session: Session) {
    const as = await authorizationServer();
    const pending: PendingAuthorization = {
      state: oauth.generateRandomState(),
      nonce: oauth.generateRandomNonce(),
      codeVerifier: oauth.generateRandomCodeVerifier(),
      startedAt: Date.now(),
    };
    session.pending = pending;
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: client.client_id,
      redirect_uri: redirectUri,
      scope,
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: "S256",
    }).toString();
    redirect(res, url.href);
  }

  async function callback(req: http.IncomingMessage, res: http.ServerResponse, session: Session | undefined) {
    const pending = session?.pending;
    if (!session || !pending || pending.startedAt < Date.now() - PENDING_MAX_AGE_MS) {
      if (session) session.pending = undefined;
      log("callback without a pending authorization");
      return send(
        res,
        400,
        page(
          "No connection in progress",
          html`<div class="card"><h1>No connection in progress</h1>
<p>This browser has no connection attempt waiting (it expired, or cookies are off). <a href="/">Start again</a>.</p></div>`,
        ),
      );
    }
    // One attempt per authorization request: the verifier, state and nonce are used once.
    session.pending = undefined;
    const as = await authorizationServer();
    // The URL scopegate redirected to: our registered redirect URI plus the query it added.
    const current = new URL(req.url ?? "/", redirectUri);
    let tokens: oauth.TokenEndpointResponse;
    try {
      // Checks iss (RFC 9207) and state, and turns ?error=... into an AuthorizationResponseError.
      const params = oauth.validateAuthResponse(as, client, current, pending.state);
      const response = await oauth.authorizationCodeGrantRequest(
        as,
        client,
        clientAuth,
        params,
        redirectUri,
        pending.codeVerifier,
        http_(),
      );
      // Validates the token response and the id_token in it (iss, aud, exp, iat, nonce, and azp/at_hash rules).
      tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
        expectedNonce: pending.nonce,
        requireIdToken: true,
      });
    } catch (err) {
      const { error, description } = describeError(err);
      log(`authorization failed: ${error}`);
      session.flash = {
        kind: "error",
        title:
          err instanceof oauth.AuthorizationResponseError && error === "access_denied"
            ? "You did not allow the connection (access_denied)."
            : `The connection failed (${error}).`,
        lines: description ? [description] : [],
      };
      return redirect(res, "/");
    }
    const claims = oauth.getValidatedIdTokenClaims(tokens)!;
    // A new sign-in state gets a new session id (no session fixation).
    const fresh = newSession(res, session);
    fresh.connection = {
      ...connectionFrom(tokens),
      idToken: {
        sub: claims.sub,
        authTime: typeof claims.auth_time === "number" ? claims.auth_time : undefined,
        issuedAt: claims.iat,
      },
    };
    fresh.flash = { kind: "ok", title: "Connected.", lines: [`Granted: ${tokens.scope ?? ""}`] };
    log("connected");
    redirect(res, "/");
  }

  async function refresh(res: http.ServerResponse, session: Session) {
    // Serialise refreshes per session: a double click must not present one refresh token twice.
    while (session.refreshing) await session.refreshing.catch(() => {});
    const work = (async () => {
      const conn = session.connection;
      if (!conn?.refreshToken) {
        session.flash = { kind: "error", title: "There is no refresh token to use.", lines: [] };
        return;
      }
      const as = await authorizationServer();
      try {
        const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, conn.refreshToken, http_());
        const tokens = await oauth.processRefreshTokenResponse(as, client, response);
        const next = connectionFrom(tokens, conn);
        session.connection = next;
        const before = fingerprint(conn.refreshToken);
        const after = next.refreshToken ? fingerprint(next.refreshToken) : "none";
        session.flash = {
          kind: "ok",
          title: "Token refreshed.",
          lines: [
            `New access token ${fingerprint(conn.accessToken)} → ${fingerprint(next.accessToken)}, valid ${tokens.expires_in ?? "?"} s.`,
            before !== after
              ? `The refresh token rotated: ${before} → ${after}. The old one is now spent; presenting it again would make scopegate revoke this connection.`
              : `The refresh token did not rotate (${before}).`,
          ],
        };
        log("token refreshed");
      } catch (err) {
        const { error, description } = describeError(err);
        log(`refresh failed: ${error}`);
        if (error === "invalid_grant") session.connection = undefined;
        session.flash = {
          kind: "error",
          title: `scopegate refused the refresh (${error}).`,
          lines: [description, error === "invalid_grant" ? "The connection has ended; connect again." : ""].filter(Boolean),
        };
      }
    })();
    session.refreshing = work;
    try {
      await work;
    } finally {
      session.refreshing = undefined;
    }
    redirect(res, "/");
  }

  async function disconnect(res: http.ServerResponse, session: Session) {
    while (session.refreshing) await session.refreshing.catch(() => {});
    const conn = session.connection;
    session.connection = undefined;
    if (!conn) return redirect(res, "/");
    const as = await authorizationServer();
    const lines: string[] = [];
    try {
      // Revoking the refresh token ends the whole grant at scopegate, with every token issued under it.
      const token = conn.refreshToken ?? conn.accessToken;
      const hint = conn.refreshToken ? "refresh_token" : "access_token";
      const response = await oauth.revocationRequest(as, client, clientAuth, token, {
        ...http_(),
        additionalParameters: { token_type_hint: hint },
      });
      await oauth.processRevocationResponse(response);
      lines.push(`scopegate revoked the ${hint.replace("_", " ")}; this app has forgotten its tokens.`);
      log("disconnected");
    } catch (err) {
      const { error, description } = describeError(err);
      log(`revocation failed: ${error}`);
      session.flash = { kind: "error", title: `Revocation failed (${error}).`, lines: [description].filter(Boolean) };
      return redirect(res, "/");
    }
    // Show that revocation takes effect on the very next request: the old access token is now refused.
    const check = await fetchMe(conn.accessToken).catch(() => null);
    if (check && !check.ok) lines.push(`Check: the old access token is now refused (${check.status} ${check.error}).`);
    else if (check?.ok) lines.push("Check: the old access token still works.");
    session.flash = { kind: "ok", title: "Disconnected.", lines };
    redirect(res, "/");
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const path = new URL(req.url ?? "/", baseUrl).pathname;
    const method = req.method ?? "GET";
    let session = readSession(req);

    if (method === "GET" && path === "/") {
      session ??= newSession(res);
      return home(res, session);
    }
    if (method === "GET" && path === "/callback") return callback(req, res, session);
    if (method === "POST" && (path === "/connect" || path === "/refresh" || path === "/disconnect" || path === "/measurements")) {
      const form = await readForm(req);
      const csrf = form?.get("csrf");
      if (!form || !session || !csrf || !sameString(csrf, session.csrf)) {
        return send(
          res,
          403,
          page(
            "Form expired",
            html`<div class="card"><h1>This form expired</h1><p><a href="/">Reload the page</a> and try again.</p></div>`,
          ),
        );
      }
      if (path === "/connect") return connect(res, session);
      if (path === "/refresh") return refresh(res, session);
      if (path === "/measurements") return record(res, session, form);
      return disconnect(res, session);
    }
    send(res, 404, page("Not found", html`<div class="card"><h1>Not found</h1><p><a href="/">Home</a></p></div>`));
  }

  const server = http.createServer((req, res) => {
    // The path only: the callback's query carries the authorization code.
    const path = new URL(req.url ?? "/", baseUrl).pathname;
    res.on("finish", () => log(`${req.method} ${path} ${res.statusCode}`));
    handle(req, res).catch((err: unknown) => {
      const { error } = describeError(err);
      log(`error on ${req.method} ${path}: ${error}`);
      if (!res.headersSent) {
        send(
          res,
          502,
          page(
            "scopegate unreachable",
            html`<div class="card"><h1>Something went wrong talking to scopegate</h1>
<p>Is scopegate running at <code>${issuerUrl.origin}</code>? <a href="/">Try again</a>.</p></div>`,
          ),
        );
      } else res.end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    url: baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        clearInterval(sweep);
        sessions.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
