import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { html, raw } from "hono/html";
import type { AppDeps, AppEnv } from "../context.ts";
import type { OAuthClient } from "../generated/prisma/client.ts";
import { listClients } from "../clients/client-admin.ts";
import { DEFAULT_ACCESS_TOKEN_TTL } from "../clients/clients.ts";
import { MAX_ACCESS_TOKEN_TTL, MIN_ACCESS_TOKEN_TTL } from "../clients/registration.ts";
import { DATA_SCOPES, SCOPE_DESCRIPTIONS } from "../consent/scopes.ts";
import { WELL_KNOWN_PATHS } from "../oauth/paths.ts";
import { layout, type Html } from "./layout.ts";
import { badge, confirmDialog, envBadge } from "./components.ts";
import { type ClientWebhooks, loadClientWebhooks, webhookDialogs, webhooksSection } from "./developers-webhooks.ts";
import { pagePolicy } from "./security-headers.ts";
import { requireSession } from "./session.ts";

/**
 * /developers: the signed-in user's OAuth clients ("API keys") and their
 * webhook endpoints (developers-webhooks.ts). The lists are rendered here;
 * creating, rotating and revoking happen in the browser script
 * (developers.client.js), which calls the GraphQL mutations with the account
 * session and the page's CSRF token, so page and API share one code path
 * (clients/registration.ts, clients/client-admin.ts, clients/webhook-endpoints.ts).
 */

export const DEVELOPERS_PATH = "/developers";
export const DEVELOPERS_SCRIPT_PATH = "/developers/developers.js";

const SCRIPT = readFileSync(new URL("./developers.client.js", import.meta.url), "utf8");

const dateFmt = (d: Date) => `${d.toISOString().slice(0, 16).replace("T", " ")} UTC`;

function duration(seconds: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  if (seconds % 3600 === 0) return unit(seconds / 3600, "hour");
  if (seconds % 60 === 0) return unit(seconds / 60, "minute");
  return unit(seconds, "second");
}

function copyButton(value: string, label: string): Html {
  return html`<button type="button" class="secondary small" data-copy="${value}" aria-label="${label}">Copy</button>`;
}

function clientItem(c: OAuthClient): Html {
  const revoked = c.revokedAt !== null;
  return html`<li class="client${revoked ? " is-revoked" : ""}" data-client-id="${c.clientId}" data-client-name="${c.name}">
  <div class="client-head">
    <h3>${c.name}</h3>
    ${envBadge(c.environment, "word")}
    ${badge(c.type === "CONFIDENTIAL" ? "Confidential" : "Public")}
    ${c.firstParty ? badge("First-party", "first") : ""}
    ${revoked ? badge("Revoked", "revoked") : ""}
  </div>
  <dl>
    <dt>Client ID</dt>
    <dd class="copy-line"><code>${c.clientId}</code>${copyButton(c.clientId, `Copy the client ID of ${c.name}`)}</dd>
    <dt>Client secret</dt>
    <dd>${
      c.type !== "CONFIDENTIAL"
        ? html`<span class="muted">none (public client: PKCE only)</span>`
        : revoked
          ? html`<span class="muted">no longer accepted</span>`
          : html`<span class="muted">ending in</span> <code>…${c.secretHint ?? ""}</code>`
    }</dd>
    <dt>Redirect URIs</dt>
    <dd><ul>${c.redirectUris.map((u) => html`<li><code>${u}</code></li>`)}</ul></dd>
    <dt>Scopes</dt>
    <dd>${c.scopes.map((s, i) => html`${i ? " " : ""}<code>${s}</code>`)}</dd>
    <dt>Access tokens</dt>
    <dd>last ${duration(c.accessTokenTtl)}; refresh tokens ${c.refreshTokens ? "on" : "off"}</dd>
    <dt>Created</dt>
    <dd><time datetime="${c.createdAt.toISOString()}">${dateFmt(c.createdAt)}</time></dd>
    ${revoked ? html`<dt>Revoked</dt><dd><time datetime="${c.revokedAt!.toISOString()}">${dateFmt(c.revokedAt!)}</time></dd>` : ""}
  </dl>
  ${
    revoked
      ? ""
      : html`<div class="actions">
    ${c.type === "CONFIDENTIAL" ? html`<button type="button" class="secondary small" data-action="rotate">Rotate secret…</button>` : ""}
    <button type="button" class="secondary small danger" data-action="revoke">Revoke…</button>
  </div>`
  }
</li>`;
}

/** The list of clients: also what the script swaps in after a change. */
function clientList(clients: OAuthClient[]): Html {
  if (!clients.length) return html`<p class="empty">No clients yet. Create one below to get a client ID.</p>`;
  return html`<ul class="clients">${clients.map(clientItem)}</ul>`;
}

function errorSlot(name: string): Html {
  return html`<p class="field-error" id="err-${name}" data-error-for="${name}" hidden></p>`;
}

function createForm(isAdmin: boolean): Html {
  return html`<form class="create" id="create-form" novalidate>
  <label for="f-name">Name</label>
  <input id="f-name" name="name" type="text" maxlength="100" autocomplete="off" aria-describedby="err-name">
  ${errorSlot("name")}

  <fieldset id="f-environment" aria-describedby="err-environment">
    <legend>Environment</legend>
    <div class="choices two">
      <label class="choice"><input type="radio" name="environment" value="DEVELOPMENT" checked>
        <span><strong>Development</strong><small>Redirect URIs may use <code>http://localhost</code> or <code>127.0.0.1</code>. Users see a warning.</small></span></label>
      <label class="choice"><input type="radio" name="environment" value="PRODUCTION">
        <span><strong>Production</strong><small>Redirect URIs must use <code>https</code>.</small></span></label>
    </div>
    ${errorSlot("environment")}
  </fieldset>

  <fieldset id="f-type" aria-describedby="err-type">
    <legend>Type</legend>
    <div class="choices two">
      <label class="choice"><input type="radio" name="type" value="CONFIDENTIAL" checked>
        <span><strong>Confidential</strong><small>A server that can keep a secret. Gets a client secret; may use <code>client_credentials</code>.</small></span></label>
      <label class="choice"><input type="radio" name="type" value="PUBLIC">
        <span><strong>Public</strong><small>A browser or mobile app. No secret: PKCE only; may use a private-use scheme such as <code>com.example.app:/cb</code>.</small></span></label>
    </div>
    ${errorSlot("type")}
  </fieldset>

  <label for="f-redirectUris">Redirect URIs</label>
  <textarea id="f-redirectUris" name="redirectUris" rows="3" spellcheck="false" aria-describedby="hint-redirectUris err-redirectUris" placeholder="http://localhost:3000/callback"></textarea>
  <p class="hint" id="hint-redirectUris">One per line; exact match, no <code>#fragment</code>.</p>
  ${errorSlot("redirectUris")}

  <fieldset id="f-scopes" aria-describedby="err-scopes">
    <legend>Scopes the client may ask for</legend>
    <div class="choices">
      ${DATA_SCOPES.map(
        (s) => html`<label class="choice"><input type="checkbox" name="scopes" value="${s}"${s !== "data:write" ? raw(" checked") : ""}>
        <span><strong><code>${s}</code></strong><small>${SCOPE_DESCRIPTIONS[s] ?? ""}</small></span></label>`,
      )}
    </div>
    <p class="hint"><code>openid</code> and <code>offline_access</code> are always available.</p>
    ${errorSlot("scopes")}
  </fieldset>

  <label for="f-accessTokenTtl">Access-token lifetime (seconds)</label>
  <input id="f-accessTokenTtl" name="accessTokenTtl" type="number" inputmode="numeric" min="${MIN_ACCESS_TOKEN_TTL}" max="${MAX_ACCESS_TOKEN_TTL}" step="1" placeholder="${DEFAULT_ACCESS_TOKEN_TTL}" aria-describedby="hint-accessTokenTtl err-accessTokenTtl">
  <p class="hint" id="hint-accessTokenTtl">${MIN_ACCESS_TOKEN_TTL} to ${MAX_ACCESS_TOKEN_TTL}; empty means ${DEFAULT_ACCESS_TOKEN_TTL} (${duration(DEFAULT_ACCESS_TOKEN_TTL)}).</p>
  ${errorSlot("accessTokenTtl")}

  <label class="check"><input type="checkbox" name="refreshTokens" id="f-refreshTokens" checked> Issue refresh tokens</label>
  ${errorSlot("refreshTokens")}
  ${
    isAdmin
      ? html`<label class="check"><input type="checkbox" name="firstParty" id="f-firstParty"> First-party: skip the consent screen (administrators only)</label>
  ${errorSlot("firstParty")}`
      : ""
  }

  <p class="form-error" id="create-error" role="alert" hidden></p>
  <button type="submit">Create client</button>
</form>`;
}

const dialogs = html`${confirmDialog({
  name: "rotate",
  title: html`Rotate the secret of <span data-fill="name"></span>?`,
  body: html`<p>A new secret is created and shown once. Update your app with it.</p>
    <label for="f-grace">Keep the current secret working for</label>
    <select id="f-grace" name="gracePeriodSeconds" aria-describedby="err-gracePeriodSeconds">
      <option value="0" selected>No time: it stops working now</option>
      <option value="3600">1 hour</option>
      <option value="86400">1 day</option>
      <option value="604800">7 days</option>
    </select>
    ${errorSlot("gracePeriodSeconds")}`,
  confirm: "Rotate secret",
})}
${confirmDialog({
  name: "revoke",
  title: html`Revoke <span data-fill="name"></span>?`,
  body: html`<p>This cannot be undone.</p>
    <ul>
      <li>Every user's connection to this app ends; all its access and refresh tokens stop working.</li>
      <li>The client can no longer sign in users or get tokens.</li>
      <li>It stays in this list, marked revoked.</li>
    </ul>`,
  confirm: "Revoke client",
  danger: true,
})}`;

function developersPage(opts: {
  email: string;
  csrf: string;
  isAdmin: boolean;
  clients: OAuthClient[];
  webhooks: ClientWebhooks[];
  allowLoopback: boolean;
}): Html {
  return layout({
    title: "Developers",
    signedInAs: opts.email,
    csrf: opts.csrf,
    page: "page-developers",
    body: html`<div id="developers" data-csrf="${opts.csrf}">
  <div class="intro">
    <h1>Developers</h1>
    <p class="muted">OAuth clients (API keys) for your own apps. Discovery: <code>${WELL_KNOWN_PATHS.openidConfiguration}</code></p>
  </div>
  <noscript><p class="form-error">This page needs JavaScript to create, rotate and revoke clients and to manage webhooks.</p></noscript>
  <p class="notice" id="notice" role="status" hidden></p>

  <section class="card page-card secret" id="secret-panel" tabindex="-1" aria-labelledby="secret-title" hidden>
    <h2 id="secret-title">Client secret for <span data-fill="name"></span></h2>
    <p class="warning">Copy it now: you will not see this again.</p>
    <p class="hint">scopegate keeps only a hash of it. If you lose it, rotate the secret to get a new one.</p>
    <div class="value"><code id="secret-value"></code><button type="button" data-copy-from="secret-value" aria-label="Copy the client secret">Copy</button></div>
    <p class="meta copy-line">Client ID: <code id="secret-client-id"></code><button type="button" class="secondary small" data-copy-from="secret-client-id" aria-label="Copy the new client's ID">Copy</button></p>
    <button type="button" class="secondary done" id="secret-done">Done, I saved it</button>
  </section>

  <section class="card page-card" aria-labelledby="clients-title">
    <h2 id="clients-title">Your clients</h2>
    <div id="client-list">${clientList(opts.clients)}</div>
  </section>

  <section class="card page-card" aria-labelledby="create-title">
    <h2 id="create-title">Create a client</h2>
    ${createForm(opts.isAdmin)}
  </section>

  ${webhooksSection(opts.webhooks, opts.allowLoopback)}
</div>
${dialogs}
${webhookDialogs}
<script src="${DEVELOPERS_SCRIPT_PATH}" defer></script>`,
  });
}

export function developerPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // The page's one script (no inline script): the "scripts" addition to the strict headers.
  app.get(DEVELOPERS_PATH, pagePolicy("scripts"), requireSession(deps), async (c) => {
    const session = c.var.accountSession;
    const clients = await listClients(deps.prisma, session.userId);
    const webhooks = await loadClientWebhooks(deps.prisma, session.userId, clients);
    return c.html(
      developersPage({
        email: session.user.email,
        csrf: session.csrfToken,
        isAdmin: session.user.isAdmin,
        clients,
        webhooks,
        allowLoopback: deps.webhooks.allowLoopback,
      }),
    );
  });

  app.get(DEVELOPERS_SCRIPT_PATH, (c) => {
    c.header("Content-Type", "text/javascript; charset=utf-8");
    c.header("Cache-Control", "no-cache");
    return c.body(SCRIPT);
  });

  return app;
}
