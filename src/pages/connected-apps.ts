import { Hono, type Context } from "hono";
import { html } from "hono/html";
import type { SignInSession } from "../accounts/sessions.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import {
  describeScopes,
  findConnectedApp,
  listConnectedApps,
  narrowableScopes,
  narrowConnectedApp,
  revokeConnectedApp,
  type ConnectedApp,
} from "../consent/connected-apps.ts";
import type { Html } from "./layout.ts";
import { domainErrorOf, PAGE_STATUS } from "./errors.ts";
import { accountLayout, flash, notFoundBody, when } from "./account-ui.ts";
import { appMark, envBadge, unverifiedBadge } from "./components.ts";
import { checkedForm } from "./forms.ts";
import { requireSession } from "./session.ts";

/**
 * /account/apps: the apps that can reach the user's data, what each may do,
 * when it was connected and last used; narrow an app's permissions, or revoke
 * it (behind a confirmation page). Same functions as the GraphQL mutations.
 */

const KEEP_FIELD = "keep";

function appCard(app: ConnectedApp, csrf: string, error?: string): Html {
  const perms = describeScopes(app.scopes);
  const narrowable = new Set(narrowableScopes(app));
  const id = app.id;
  return html`<section class="card" id="app-${id}" aria-labelledby="app-${id}-name">
  <div class="app-head">
    ${appMark(app.client.name)}
    <div>
      <div><span class="app-name" id="app-${id}-name">${app.client.name}</span>${envBadge(app.client.environment)}${
        app.client.registeredFrom ? html`${unverifiedBadge()} <span class="muted">from ${app.client.registeredFrom}</span>` : ""
      }</div>
      <div class="app-meta">Connected ${when(app.createdAt)} · ${app.lastUsedAt ? html`Last used ${when(app.lastUsedAt)}` : "Not used yet"}</div>
    </div>
  </div>
  ${error ? html`<p class="form-error" role="alert">${error}</p>` : ""}
  <ul class="perms" aria-label="What ${app.client.name} can do">
    ${perms.map((p) => html`<li><span class="tick" aria-hidden="true">✓</span><span>${p.description}<code>${p.scope}</code></span></li>`)}
  </ul>
  ${
    narrowable.size
      ? html`<details class="narrow"${error ? html` open` : ""}>
    <summary>Change permissions</summary>
    <form method="post" action="/account/apps/${id}/scopes">
      <input type="hidden" name="csrf" value="${csrf}">
      <p class="muted">Untick what ${app.client.name} should no longer do. It keeps the rest and stays connected.</p>
      ${perms.map((p) =>
        narrowable.has(p.scope)
          ? html`<label><input type="checkbox" name="${KEEP_FIELD}" value="${p.scope}" checked><span>${p.description}<code class="scope-code">${p.scope}</code></span></label>`
          : html`<div class="fixed"><span aria-hidden="true">✓</span><span>${p.description} (part of every connection)</span></div>`,
      )}
      <button type="submit" class="secondary">Save permissions</button>
    </form>
  </details>`
      : ""
  }
  <div class="row-actions">
    <a href="/account/activity?app=${encodeURIComponent(app.client.clientId)}">See activity</a>
    <span class="spacer"></span>
    <a class="button danger-outline" href="/account/apps/${id}/revoke" aria-label="Revoke ${app.client.name}">Revoke…</a>
  </div>
</section>`;
}

function listPage(
  session: SignInSession,
  apps: ConnectedApp[],
  opts: { message?: string; errorFor?: { grantId: string; message: string } } = {},
): Html {
  return accountLayout({
    title: "Connected apps",
    session,
    tab: "apps",
    body: html`<h1>Connected apps</h1>
<p class="lede">These apps can reach your scopegate data, each only in the ways listed. Revoke one and it loses access at once.</p>
${flash(opts.message)}
<div class="stack">
${
  apps.length
    ? apps.map((a) => appCard(a, session.csrfToken, opts.errorFor?.grantId === a.id ? opts.errorFor.message : undefined))
    : html`<div class="card empty"><p><strong>No apps are connected to your account.</strong></p><p>When you allow an app to use your data, it appears here.</p></div>`
}
</div>`,
  });
}

function confirmPage(session: SignInSession, app: ConnectedApp, error?: string): Html {
  return accountLayout({
    title: `Revoke ${app.client.name}?`,
    session,
    tab: "apps",
    body: html`<div class="card">
  <div class="app-head spaced">${appMark(app.client.name)}<div><span class="app-name">${app.client.name}</span>${envBadge(app.client.environment)}</div></div>
  <h1>Revoke access for ${app.client.name}?</h1>
  ${flash(error, "error")}
  <p>${app.client.name} loses access to your account at once: the tokens it holds stop working on their next use and it can no longer refresh them. To use it again you would have to connect it anew.</p>
  <p>It can currently:</p>
  <ul class="perms">${describeScopes(app.scopes).map((p) => html`<li><span class="tick" aria-hidden="true">✓</span><span>${p.description}</span></li>`)}</ul>
  <p class="muted">Data the app has already copied is not recalled from it; your <a href="/account/activity?app=${encodeURIComponent(app.client.clientId)}">activity</a> shows what it read.</p>
  <form method="post" action="/account/apps/${app.id}/revoke">
    <input type="hidden" name="csrf" value="${session.csrfToken}">
    <div class="form-actions">
      <button type="submit" class="danger">Revoke access</button>
      <a class="button secondary" href="/account/apps">Cancel</a>
    </div>
  </form>
</div>`,
  });
}

export function connectedAppsPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signedIn = requireSession(deps, { formsReturnTo: "/account/apps" });

  const gone = <E extends AppEnv>(c: Context<E>, session: SignInSession) =>
    c.html(
      accountLayout({
        title: "App not connected",
        session,
        tab: "apps",
        body: notFoundBody("This app is not connected", "It may have been revoked already, or the link is wrong.", {
          href: "/account/apps",
          label: "Back to connected apps",
        }),
      }),
      404,
    );

  /** A name for the confirmation message after a redirect: only from the user's own grants. */
  async function grantName(userId: string, grantId: string | undefined): Promise<string | null> {
    if (!grantId || !/^[0-9a-f-]{36}$/i.test(grantId)) return null;
    const grant = await deps.prisma.grant.findFirst({ where: { id: grantId, userId }, include: { client: { select: { name: true } } } });
    return grant?.client.name ?? null;
  }

  app.get("/account/apps", signedIn, async (c) => {
    const session = c.var.accountSession;
    const apps = await listConnectedApps(deps.prisma, session.userId);
    const revoked = await grantName(session.userId, c.req.query("revoked"));
    const updated = await grantName(session.userId, c.req.query("updated"));
    const message = revoked
      ? `${revoked} no longer has access to your account.`
      : updated
        ? `Permissions for ${updated} were updated.`
        : undefined;
    return c.html(listPage(session, apps, { message }));
  });

  app.get("/account/apps/:grantId/revoke", signedIn, async (c) => {
    const session = c.var.accountSession;
    const found = await findConnectedApp(deps.prisma, session.userId, c.req.param("grantId"));
    if (!found) return gone(c, session);
    return c.html(confirmPage(session, found));
  });

  app.post("/account/apps/:grantId/revoke", signedIn, checkedForm(deps, { token: "session" }), async (c) => {
    const session = c.var.accountSession;
    try {
      const revoked = await revokeConnectedApp(deps.prisma, session.userId, c.req.param("grantId"));
      c.var.log.info(
        { userId: session.userId, grantId: revoked.id, clientId: revoked.client.clientId },
        "connected app revoked by the user",
      );
      return c.redirect(`/account/apps?revoked=${revoked.id}`, 303);
    } catch (err) {
      if (domainErrorOf(err)?.code === "not_found") return gone(c, session);
      throw err;
    }
  });

  // No page of its own: a refused form goes back to the list that holds it.
  app.post("/account/apps/:grantId/scopes", signedIn, checkedForm(deps, { token: "session", back: "/account/apps" }), async (c) => {
    const session = c.var.accountSession;
    const grantId = c.req.param("grantId");
    try {
      const keep = c.var.form.all(KEEP_FIELD).slice(0, 20);
      const narrowed = await narrowConnectedApp(deps.prisma, session.userId, grantId, keep);
      c.var.log.info({ userId: session.userId, grantId: narrowed.id, scopes: narrowed.scopes }, "connected app narrowed by the user");
      return c.redirect(`/account/apps?updated=${narrowed.id}`, 303);
    } catch (err) {
      const refused = domainErrorOf(err);
      if (refused?.code === "not_found") return gone(c, session);
      if (refused?.code !== "invalid_input") throw err;
      const apps = await listConnectedApps(deps.prisma, session.userId);
      return c.html(listPage(session, apps, { errorFor: { grantId, message: refused.message } }), PAGE_STATUS.invalid_input);
    }
  });

  return app;
}
