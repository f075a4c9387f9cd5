import { html, raw } from "hono/html";
import type { Db } from "../db/index.ts";
import type { OAuthClient, WebhookDelivery, WebhookEndpoint } from "../generated/prisma/client.ts";
import { DEFAULT_ROTATION_OVERLAP_SECONDS } from "../clients/webhook-endpoints.ts";
import { requiredScope, WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../webhooks/events.ts";
import { badge, confirmDialog } from "./components.ts";
import type { Html } from "./layout.ts";

/**
 * The Webhooks section of /developers: each live client's endpoints with their
 * recent deliveries, and a form to add one. Rendered here only; adding,
 * editing, rotating, deleting and resending go through the GraphQL mutations
 * from developers.client.js (src/clients/webhook-endpoints.ts behind both), which
 * then swaps in the freshly rendered list.
 */

/** Deliveries shown per endpoint: enough to see a pattern, few enough for one page. */
export const DELIVERIES_SHOWN = 10;

/** An endpoint as the page shows it: never its sealed secrets. */
type ShownEndpoint = Omit<WebhookEndpoint, "secret" | "previousSecret"> & { deliveries: WebhookDelivery[] };

export interface ClientWebhooks {
  client: OAuthClient;
  endpoints: ShownEndpoint[];
}

/** Each live client of the owner with its endpoints (oldest first) and their latest deliveries (newest first). */
export async function loadClientWebhooks(db: Db, ownerId: string, clients: OAuthClient[]): Promise<ClientWebhooks[]> {
  const live = clients.filter((c) => c.ownerId === ownerId && c.revokedAt === null);
  if (!live.length) return [];
  const endpoints = await db.webhookEndpoint.findMany({
    where: { clientId: { in: live.map((c) => c.id) }, client: { ownerId } },
    omit: { secret: true, previousSecret: true },
    orderBy: [{ createdAt: "asc" }, { id: "asc" }],
  });
  // One indexed query per endpoint (endpointId, createdAt): a nested `take` would read every delivery.
  const shown: ShownEndpoint[] = await Promise.all(
    endpoints.map(async (e) => ({
      ...e,
      deliveries: await db.webhookDelivery.findMany({
        where: { endpointId: e.id },
        orderBy: [{ createdAt: "desc" }, { id: "desc" }],
        take: DELIVERIES_SHOWN,
      }),
    })),
  );
  return live.map((client) => ({ client, endpoints: shown.filter((e) => e.clientId === client.id) }));
}

const EVENT_DESCRIPTIONS: Record<WebhookEventType, string> = {
  "measurement.created": "A measurement was recorded",
  "measurement.updated": "A measurement was changed",
  "measurement.deleted": "A measurement was deleted",
  "profile.updated": "The user changed their name or date of birth (the payload carries the profile, email included)",
  "grant.revoked": "The user disconnected your app: stop using their data",
  "grant.narrowed": "The user took back some permissions",
};

/** Event types this client can ever receive: those whose scope it is registered with, and grant.* always. */
export function offeredEventTypes(client: Pick<OAuthClient, "scopes">): WebhookEventType[] {
  return WEBHOOK_EVENT_TYPES.filter((t) => {
    const scope = requiredScope(t);
    return scope === null || client.scopes.includes(scope);
  });
}

function scopeNote(type: WebhookEventType): string {
  const scope = requiredScope(type);
  return scope === null ? "always available" : `needs ${scope}`;
}

const at = (d: Date) => `${d.toISOString().slice(0, 19).replace("T", " ")} UTC`;
const time = (d: Date) => html`<time datetime="${d.toISOString()}">${at(d)}</time>`;

function statusBadge(d: WebhookDelivery, now: Date): Html {
  if (d.status === "delivered") return badge("Delivered", "prod");
  if (d.status === "failed") return badge("Failed", "revoked");
  if (d.status === "cancelled") return badge("Cancelled");
  if (d.claimedUntil && d.claimedUntil > now) return badge("Sending", "dev");
  return badge(d.attempts > 0 ? "Retrying" : "Pending", "dev");
}

function nextRetry(d: WebhookDelivery, now: Date): Html | string {
  if (d.status !== "pending") return "—";
  if (d.claimedUntil && d.claimedUntil > now) return "now";
  return d.nextAttemptAt ? time(d.nextAttemptAt) : "—";
}

function deliveryRow(d: WebhookDelivery, now: Date): Html {
  const response = d.responseStatus !== null ? String(d.responseStatus) : d.attempts > 0 && d.status !== "pending" ? "no answer" : "—";
  return html`<tr data-delivery-id="${d.id}">
  <td><code>${d.eventType}</code><div class="sub">${time(d.createdAt)}<br><code>${d.id}</code></div></td>
  <td>${statusBadge(d, now)}</td>
  <td class="num">${d.attempts}</td>
  <td class="num">${response}</td>
  <td class="error-text">${d.lastError ?? "—"}</td>
  <td>${nextRetry(d, now)}</td>
  <td><button type="button" class="secondary small" id="wh-resend-${d.id}" data-wh-action="resend" aria-label="Resend ${d.eventType} ${d.id}">Resend</button></td>
</tr>`;
}

function deliveriesTable(e: ShownEndpoint, now: Date): Html {
  if (!e.deliveries.length) return html`<p class="empty">No deliveries yet.</p>`;
  return html`<div class="table-scroll"><table class="deliveries">
  <caption>Recent deliveries <span class="muted">(newest first, at most ${DELIVERIES_SHOWN})</span></caption>
  <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Response</th><th scope="col">Last error</th><th scope="col">Next retry</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
  <tbody>${e.deliveries.map((d) => deliveryRow(d, now))}</tbody>
</table></div>`;
}

function endpointItem(e: ShownEndpoint, now: Date): Html {
  const overlapUntil = e.previousSecretExpiresAt && e.previousSecretExpiresAt > now ? e.previousSecretExpiresAt : null;
  return html`<li class="endpoint${e.enabled ? "" : " is-disabled"}" id="wh-endpoint-${e.id}" data-endpoint-id="${e.id}" data-url="${e.url}" data-event-types="${e.eventTypes.join(" ")}" data-enabled="${String(e.enabled)}">
  <div class="endpoint-head"><code class="url" id="wh-url-${e.id}">${e.url}</code>${
    e.enabled ? badge("Enabled", "prod") : badge("Disabled")
  }</div>
  ${
    e.failingSince
      ? html`<p class="failing">Failing since ${time(e.failingSince)}${e.failingReason ? html`: ${e.failingReason}` : ""}</p>`
      : ""
  }
  <dl>
    <dt>Events</dt>
    <dd>${e.eventTypes.map((t, i) => html`${i ? " " : ""}<code>${t}</code>`)}</dd>
    <dt>Signing secret</dt>
    <dd><span class="muted">ending in</span> <code>…${e.secretHint}</code>${
      overlapUntil ? html`<span class="muted">; the previous secret also signs until ${time(overlapUntil)}</span>` : ""
    }</dd>
    <dt>Created</dt>
    <dd>${time(e.createdAt)}</dd>
  </dl>
  <div class="actions">
    <button type="button" class="secondary small" id="wh-toggle-${e.id}" data-wh-action="toggle" aria-describedby="wh-url-${e.id}">${e.enabled ? "Disable" : "Enable"}</button>
    <button type="button" class="secondary small" data-wh-action="edit" aria-describedby="wh-url-${e.id}">Edit…</button>
    <button type="button" class="secondary small" data-wh-action="rotate" aria-describedby="wh-url-${e.id}">Rotate secret…</button>
    <button type="button" class="secondary small danger" data-wh-action="delete" aria-describedby="wh-url-${e.id}">Delete…</button>
  </div>
  <p class="form-error" role="alert" data-endpoint-error hidden></p>
  ${deliveriesTable(e, now)}
</li>`;
}

function eventChoice(type: WebhookEventType, name: string, checked: boolean): Html {
  return html`<label class="choice"><input type="checkbox" name="${name}" value="${type}"${checked ? raw(" checked") : ""}>
        <span><strong><code>${type}</code></strong><small>${EVENT_DESCRIPTIONS[type]} (${scopeNote(type)})</small></span></label>`;
}

function addForm(client: OAuthClient, allowLoopback: boolean): Html {
  const k = client.clientId;
  const offered = offeredEventTypes(client);
  const missing = WEBHOOK_EVENT_TYPES.filter((t) => !offered.includes(t));
  return html`<form class="webhook-add" data-client-id="${client.clientId}" aria-labelledby="wh-add-title-${k}" novalidate>
  <h4 id="wh-add-title-${k}">Add an endpoint</h4>
  <label for="wh-new-url-${k}">Endpoint URL</label>
  <input id="wh-new-url-${k}" name="url" type="url" maxlength="2000" autocomplete="off" spellcheck="false" placeholder="https://app.example.com/webhooks/scopegate" data-field="input.url" aria-describedby="wh-url-hint-${k} wh-err-url-${k}">
  <p class="hint" id="wh-url-hint-${k}">https, to a public address. scopegate POSTs each event there as JSON, signed.${
    allowLoopback ? " This server also accepts http to a loopback address (WEBHOOKS_ALLOW_LOOPBACK: local development only)." : ""
  }</p>
  <p class="field-error" id="wh-err-url-${k}" data-error-for="input.url" role="alert" hidden></p>

  <fieldset data-field="input.eventTypes" aria-describedby="wh-err-events-${k}">
    <legend>Events to send</legend>
    <div class="choices">${offered.map((t) => eventChoice(t, "eventTypes", requiredScope(t) === null))}</div>
    ${
      missing.length
        ? html`<p class="hint">Not available to this client: ${missing.map((t, i) => html`${i ? ", " : ""}<code>${t}</code> (${scopeNote(t)})`)}. It would need that scope registered.</p>`
        : ""
    }
    <p class="field-error" id="wh-err-events-${k}" data-error-for="input.eventTypes" role="alert" hidden></p>
  </fieldset>

  <label class="check"><input type="checkbox" name="enabled" checked> Enabled: send deliveries to this endpoint</label>
  <p class="form-error" role="alert" data-form-error hidden></p>
  <button type="submit">Add endpoint</button>
</form>`;
}

function clientWebhooks(cw: ClientWebhooks, allowLoopback: boolean, now: Date): Html {
  const c = cw.client;
  return html`<section class="webhook-client" data-client-id="${c.clientId}" data-client-name="${c.name}" data-offered="${offeredEventTypes(c).join(" ")}" aria-labelledby="wh-title-${c.clientId}">
  <h3 id="wh-title-${c.clientId}">${c.name}</h3>
  <div id="wh-endpoints-${c.clientId}">${
    cw.endpoints.length
      ? html`<ul class="endpoints">${cw.endpoints.map((e) => endpointItem(e, now))}</ul>`
      : html`<p class="empty">No endpoints yet.</p>`
  }</div>
  ${addForm(c, allowLoopback)}
</section>`;
}

/** The list inside #webhook-list: also what the script swaps in after a change. */
function webhookList(list: ClientWebhooks[], allowLoopback: boolean): Html {
  if (!list.length) return html`<p class="empty">Webhooks belong to a client: create one first.</p>`;
  const now = new Date();
  return html`${list.map((cw) => clientWebhooks(cw, allowLoopback, now))}`;
}

const overlap = `${DEFAULT_ROTATION_OVERLAP_SECONDS / 3600} hours`;

export function webhooksSection(list: ClientWebhooks[], allowLoopback: boolean): Html {
  return html`<section class="card page-card" id="webhooks" aria-labelledby="webhooks-title">
  <h2 id="webhooks-title">Webhooks</h2>
  <p class="hint">scopegate sends an event to your endpoints when a user's data changes, only for users whose grant to the client covers it (and for your own data within the client's scopes). Each delivery is signed the Standard Webhooks way with the endpoint's signing secret: check the signature before you trust the body, and deduplicate by <code>webhook-id</code>.</p>
  <p class="notice" id="webhook-notice" role="status" hidden></p>
  <section class="secret webhook-secret" id="webhook-secret-panel" tabindex="-1" aria-labelledby="webhook-secret-title" hidden>
    <h3 id="webhook-secret-title">Signing secret for <span data-fill="url"></span></h3>
    <p class="warning">Copy it now: you will not see this again.</p>
    <p class="hint">scopegate keeps it encrypted, to sign deliveries, and never shows it again. If you lose it, rotate the secret to get a new one.</p>
    <p class="hint" id="webhook-secret-overlap" hidden></p>
    <div class="value"><code id="webhook-secret-value"></code><button type="button" data-copy-from="webhook-secret-value" aria-label="Copy the signing secret">Copy</button></div>
    <button type="button" class="secondary done" id="webhook-secret-done">Done, I saved it</button>
  </section>
  <div id="webhook-list">${webhookList(list, allowLoopback)}</div>
</section>`;
}

export const webhookDialogs = html`${confirmDialog({
  name: "webhook-edit",
  title: html`Edit the endpoint <span data-fill="url"></span>`,
  body: html`<label for="wh-edit-url">Endpoint URL</label>
    <input id="wh-edit-url" name="url" type="url" maxlength="2000" autocomplete="off" spellcheck="false" data-field="input.url" aria-describedby="wh-edit-err-url">
    <p class="field-error" id="wh-edit-err-url" data-error-for="input.url" role="alert" hidden></p>
    <fieldset data-field="input.eventTypes" aria-describedby="wh-edit-err-events">
      <legend>Events to send</legend>
      <div class="choices">${WEBHOOK_EVENT_TYPES.map((t) => eventChoice(t, "eventTypes", false))}</div>
      <p class="field-error" id="wh-edit-err-events" data-error-for="input.eventTypes" role="alert" hidden></p>
    </fieldset>`,
  confirm: "Save changes",
})}
${confirmDialog({
  name: "webhook-rotate",
  title: html`Rotate the signing secret of <span data-fill="url"></span>?`,
  body: html`<p>A new signing secret is created and shown once. The current one keeps signing beside it for ${overlap} (each delivery then carries both signatures), so you can update your receiver without missing a delivery.</p>`,
  confirm: "Rotate secret",
})}
${confirmDialog({
  name: "webhook-delete",
  title: html`Delete the endpoint <span data-fill="url"></span>?`,
  body: html`<p>This cannot be undone. Deliveries still pending are not sent, and the endpoint's delivery history is deleted with it.</p>`,
  confirm: "Delete endpoint",
  danger: true,
})}`;
