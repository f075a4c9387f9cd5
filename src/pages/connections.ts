import { Hono } from "hono";
import { html } from "hono/html";
import type { SignInSession } from "../accounts/sessions.ts";
import { disconnectProvider, listConnections } from "../connectors/connections.ts";
import { type ConnectorProvider, CONNECTORS_PREFIX } from "../connectors/providers.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import type { ProviderConnection } from "../generated/prisma/client.ts";
import { accountLayout, flash, when } from "./account-ui.ts";
import { appMark, badge } from "./components.ts";
import { domainErrorOf } from "./errors.ts";
import { checkedForm } from "./forms.ts";
import type { Html } from "./layout.ts";
import { requireSession } from "./session.ts";

/**
 * /account/connections: the user's links to accounts at the providers the
 * operator configured (CONNECTORS_FILE): each provider's status, Connect (a
 * plain link to the connector's authorize endpoint, which comes back here) and
 * Disconnect (a form; the same service function as the GraphQL mutation).
 */

export const CONNECTIONS_PAGE = "/account/connections";

/** A provider's slug, as CONNECTORS_FILE allows it (src/connectors/providers.ts). */
const SLUG = /^[a-z0-9][a-z0-9-]{0,39}$/;

interface Row {
  slug: string;
  name: string;
  /** null: connected once, but the provider is no longer configured */
  provider: ConnectorProvider | null;
  connection: ProviderConnection | null;
}

function rows(providers: readonly ConnectorProvider[], connections: ProviderConnection[]): Row[] {
  const bySlug = new Map(connections.map((c) => [c.provider, c]));
  const configured = providers.map((p) => ({ slug: p.slug, name: p.name, provider: p, connection: bySlug.get(p.slug) ?? null }));
  // Links to providers the operator has since removed: still the user's to disconnect.
  const known = new Set(providers.map((p) => p.slug));
  const orphans = connections
    .filter((c) => !known.has(c.provider))
    .map((c) => ({ slug: c.provider, name: c.provider, provider: null, connection: c }));
  return [...configured, ...orphans];
}

/** Where Connect goes: the connector's authorize endpoint, back here afterwards with a notice. */
function connectHref(slug: string): string {
  const back = `${CONNECTIONS_PAGE}?connected=${encodeURIComponent(slug)}`;
  return `${CONNECTORS_PREFIX}/${encodeURIComponent(slug)}/authorize?redirect_uri=${encodeURIComponent(back)}`;
}

const scopeList = (scopes: string[]): Html =>
  scopes.length
    ? html`${scopes.map((s, i) => html`${i ? " " : ""}<code class="scope-code">${s}</code>`)}`
    : html`<span class="muted">none</span>`;

function providerCard(row: Row, csrf: string): Html {
  const { slug, name, provider, connection } = row;
  const id = `provider-${slug}`;
  const active = connection?.status === "active";
  const status = !connection ? badge("Not connected") : active ? badge("Connected", "prod") : badge("Needs reconnecting", "revoked");
  // Where the account is: the provider's host, so that two similar names cannot be confused.
  const meta = provider ? new URL(provider.issuer).host : "No longer offered on this scopegate";
  const connect = provider
    ? html`<a class="button${active ? " secondary" : ""}" href="${connectHref(slug)}" aria-label="${connection ? "Reconnect" : "Connect"} ${name}">${connection ? "Reconnect" : "Connect"}</a>`
    : "";
  const disconnect = connection
    ? html`<form class="inline" method="post" action="/account/connections/${encodeURIComponent(slug)}/disconnect">
      <input type="hidden" name="csrf" value="${csrf}">
      <button type="submit" class="secondary" aria-label="Disconnect ${name}">Disconnect</button>
    </form>`
    : "";
  return html`<section class="card" id="${id}" aria-labelledby="${id}-name">
  <div class="app-head spaced">
    ${appMark(name)}
    <div>
      <div><span class="app-name" id="${id}-name">${name}</span>${status}</div>
      <div class="app-meta">${meta}</div>
    </div>
  </div>
  ${
    connection && !active
      ? html`<p class="form-error">${name} refused to renew scopegate's access to your account there. Reconnect to resume, or disconnect.</p>`
      : ""
  }
  <dl class="facts">
    ${
      connection
        ? html`<dt>Scopes granted</dt><dd>${scopeList(connection.scopes)}</dd>
    <dt>Connected</dt><dd>${when(connection.connectedAt)}</dd>
    <dt>Last refreshed</dt><dd>${connection.lastRefreshedAt ? when(connection.lastRefreshedAt) : "Not yet"}</dd>`
        : html`<dt>Will ask for</dt><dd>${scopeList(provider?.scopes ?? [])}</dd>`
    }
  </dl>
  <div class="row-actions">
    ${connect}
    <span class="spacer"></span>
    ${disconnect}
  </div>
</section>`;
}

function listPage(session: SignInSession, list: Row[], opts: { message?: string; error?: string } = {}): Html {
  const configured = list.some((r) => r.provider);
  return accountLayout({
    title: "Linked accounts",
    session,
    tab: "connections",
    body: html`<h1>Linked accounts</h1>
<p class="lede">Link your accounts at other services so that scopegate can work with them for you, only within the scopes each one shows. Disconnect one and scopegate deletes its tokens for it, and revokes them at the service when the service allows.</p>
${flash(opts.message)}${flash(opts.error, "error")}
<div class="stack">
${
  configured
    ? ""
    : html`<div class="card empty"><p><strong>No providers are configured on this scopegate, so there is nothing to connect.</strong></p><p>The operator lists them in CONNECTORS_FILE.</p></div>`
}
${list.map((r) => providerCard(r, session.csrfToken))}
</div>`,
  });
}

export function connectionsPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signedIn = requireSession(deps, { formsReturnTo: CONNECTIONS_PAGE });
  const nameOf = (slug: string | undefined) => deps.config.connectors.find((p) => p.slug === slug)?.name ?? null;
  const load = async (userId: string) => rows(deps.config.connectors, await listConnections(deps.prisma, userId));

  app.get(CONNECTIONS_PAGE, signedIn, async (c) => {
    const session = c.var.accountSession;
    const list = await load(session.userId);
    // Notices only for what is true now: a link cannot make the page claim a connection that is not there.
    const connected = list.find((r) => r.provider && r.slug === c.req.query("connected") && r.connection?.status === "active");
    const disconnected = c.req.query("disconnected");
    const gone = disconnected !== undefined && SLUG.test(disconnected) && !list.some((r) => r.slug === disconnected && r.connection);
    const message = connected
      ? `${connected.name} is connected.`
      : gone
        ? `${nameOf(disconnected) ?? "The account"} is disconnected.`
        : undefined;
    return c.html(listPage(session, list, { message }));
  });

  app.post(
    `${CONNECTIONS_PAGE}/:provider/disconnect`,
    signedIn,
    checkedForm(deps, { token: "session", back: CONNECTIONS_PAGE }),
    async (c) => {
      const session = c.var.accountSession;
      const provider = c.req.param("provider");
      try {
        const removed = await disconnectProvider(deps.prisma, deps.connectors, session.userId, provider);
        c.var.log.info({ userId: session.userId, provider: removed.provider }, "provider disconnected by the user");
        return c.redirect(`${CONNECTIONS_PAGE}?disconnected=${encodeURIComponent(removed.provider)}`, 303);
      } catch (err) {
        if (domainErrorOf(err)?.code !== "not_found") throw err;
        const error = `${nameOf(provider) ?? "That account"} is not connected to your account.`;
        return c.html(listPage(session, await load(session.userId), { error }), 404);
      }
    },
  );

  return app;
}
