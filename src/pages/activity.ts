import { Hono } from "hono";
import { html } from "hono/html";
import type { AppDeps, AppEnv } from "../context.ts";
import { domainErrorOf } from "./errors.ts";
import { auditTrailApps, auditTrailPage, type AuditEventWithClient } from "../audit/audit-log.ts";
import { SCOPE_DESCRIPTIONS } from "../consent/scopes.ts";
import type { Html } from "./layout.ts";
import { accountLayout, utc } from "./account-ui.ts";
import { envBadge } from "./components.ts";
import { requireSession } from "./session.ts";

/**
 * /account/activity: the user's audit trail, newest first, 25 to a page, with
 * a filter by app (a plain GET form) and Older / Newest links.
 */

const PAGE_SIZE = 25;

const ACTIONS: Record<string, string> = {
  "token.issued": "Token issued",
  "token.revoked": "Token revoked",
  "data.read": "Data read",
  "data.written": "Data written",
  "grant.created": "Access granted",
  "grant.updated": "Access changed",
  "grant.revoked": "Access revoked",
  "client.created": "App registered",
  "client.updated": "App settings changed",
  "client.secret_rotated": "App secret rotated",
  "client.revoked": "App revoked",
  "code.reused": "Security: code used twice",
  "refresh_token.reused": "Security: refresh token reused",
  "webhook.sent": "Data sent by webhook",
  "connection.created": "Account linked",
  "connection.refresh_failed": "Linked account needs reconnecting",
  "connection.removed": "Account unlinked",
};

const GRANT_TYPES: Record<string, string> = {
  authorization_code: "After you allowed it",
  refresh_token: "Refreshed by the app",
  client_credentials: "For the app itself",
};

/** How an action's label is coloured: reads and writes, access given or changed, access ended, security. */
const TONE: Record<string, string> = {
  "data.read": "data",
  "data.written": "data",
  "webhook.sent": "data",
  "connection.created": "granted",
  "connection.refresh_failed": "ended",
  "connection.removed": "ended",
  "grant.created": "granted",
  "grant.updated": "changed",
  "grant.revoked": "ended",
  "token.revoked": "ended",
  "client.revoked": "ended",
  "code.reused": "ended",
  "refresh_token.reused": "ended",
};

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The detail of an event, told for a person: what was read, written, allowed, and why access ended. */
function describe(e: AuditEventWithClient): Html {
  const d = e.detail ?? "";
  switch (e.action) {
    case "data.read": {
      const fields = d.replace(/^fields:\s*/, "");
      return html`Fields read: <code class="fields">${fields}</code>`;
    }
    case "data.written":
      return html`Change: <code class="fields">${d}</code>`;
    case "webhook.sent": {
      // "<event> <webhook-id> to <host>: <outcome>" (src/webhooks/delivery.ts)
      const m = /^(\S+) \S+ to (\S+): (.*)$/.exec(d);
      if (!m) return html`${sentence(d)}`;
      return html`<code class="fields">${m[1]}</code> sent to <code>${m[2]}</code> · ${m[3]}`;
    }
    case "token.issued": {
      const gt = /grant_type=(\S+)/.exec(d)?.[1];
      const scope = /scope=([^+]*?)(?:\s\+|$)/.exec(d)?.[1]?.trim() ?? "";
      const how = gt ? (GRANT_TYPES[gt] ?? gt) : "";
      return html`${how || "Issued"}${scope ? html` · <code class="fields">${scope}</code>` : ""}${/\+refresh_token/.test(d) ? " · with a refresh token" : ""}`;
    }
    case "grant.created":
    case "grant.updated": {
      const m = /scopes:\s*([^;]*)/.exec(d);
      const removed = /removed ([^;]+);/.exec(d)?.[1];
      const scopes = (m?.[1] ?? "").split(" ").filter(Boolean);
      const words = scopes.filter((s) => s !== "openid" && s !== "offline_access").map((s) => SCOPE_DESCRIPTIONS[s] ?? s);
      return html`${removed ? html`You removed <code class="fields">${removed}</code>. ` : ""}${
        words.length ? html`Allowed: ${words.join("; ")}` : html`Allowed: who you are`
      }`;
    }
    default:
      return html`${sentence(d)}`;
  }
}

function eventRow(e: AuditEventWithClient): Html {
  const label = ACTIONS[e.action] ?? e.action;
  const tone = TONE[e.action] ?? "plain";
  return html`<tr>
  <td class="when"><time datetime="${e.at.toISOString()}">${utc(e.at, true)}</time></td>
  <td class="app">${e.client ? html`<span class="app-cell">${e.client.name}</span>${e.client.environment === "DEVELOPMENT" ? html` ${envBadge(e.client.environment, "short")}` : ""}` : html`<span class="muted">—</span>`}</td>
  <td class="what"><span class="action ${tone}" data-action="${e.action}">${label}</span><div class="detail">${describe(e)}</div></td>
  <td class="grant">${e.grantId ? html`<code title="${e.grantId}">${e.grantId.slice(0, 8)}</code>` : html`<span class="muted">—</span>`}</td>
</tr>`;
}

export function activityPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get("/account/activity", requireSession(deps), async (c) => {
    const session = c.var.accountSession;
    const appFilter = c.req.query("app") || undefined;
    const after = c.req.query("after") || undefined;
    let page: Awaited<ReturnType<typeof auditTrailPage>>;
    let badCursor = false;
    try {
      page = await auditTrailPage(deps.prisma, session.userId, { first: PAGE_SIZE, after, clientId: appFilter });
    } catch (err) {
      if (domainErrorOf(err)?.code !== "invalid_input") throw err;
      badCursor = true;
      page = await auditTrailPage(deps.prisma, session.userId, { first: PAGE_SIZE, clientId: appFilter });
    }
    const apps = await auditTrailApps(deps.prisma, session.userId);
    const selected = apps.find((a) => a.clientId === appFilter);
    const query = (extra: Record<string, string>) => {
      const q = new URLSearchParams();
      if (appFilter) q.set("app", appFilter);
      for (const [k, v] of Object.entries(extra)) q.set(k, v);
      const s = q.toString();
      return `/account/activity${s ? `?${s}` : ""}`;
    };
    return c.html(
      accountLayout({
        title: "Activity",
        session,
        tab: "activity",
        page: "page-activity",
        body: html`<h1>Activity</h1>
<p class="lede">Every time an app got a token, read or changed your data, and every time access was granted or revoked: which app, when (UTC), and under which grant.</p>
${badCursor ? html`<p class="form-error" role="alert">That page link is not valid any more; showing the newest activity.</p>` : ""}
<form class="filter" method="get" action="/account/activity">
  <div>
    <label for="f-app">App</label>
    <select id="f-app" name="app">
      <option value="">All apps</option>
      ${apps.map((a) => html`<option value="${a.clientId}"${a.clientId === appFilter ? html` selected` : ""}>${a.name}${a.environment === "DEVELOPMENT" ? " (development)" : ""}</option>`)}
    </select>
  </div>
  <button type="submit" class="secondary">Show</button>
  ${selected ? html`<span class="showing">Showing ${selected.name} only ${envBadge(selected.environment)} · <a href="/account/activity">show all</a></span>` : ""}
</form>
${
  page.events.length
    ? html`<table class="trail">
  <thead><tr><th scope="col">When</th><th scope="col">App</th><th scope="col">What</th><th scope="col">Grant</th></tr></thead>
  <tbody>${page.events.map(eventRow)}</tbody>
</table>`
    : html`<div class="card empty"><p><strong>${after ? "No older activity." : appFilter ? "No activity for this app." : "No activity yet."}</strong></p><p>When an app you connect uses your data, it shows up here.</p></div>`
}
<nav class="pager" aria-label="Pages">
  <span>${after ? html`<a href="${query({})}">← Newest</a>` : ""}</span>
  <span>${page.hasNextPage && page.endCursor ? html`<a href="${query({ after: page.endCursor })}" rel="next">Older →</a>` : ""}</span>
</nav>`,
      }),
    );
  });

  return app;
}
