import { html, raw } from "hono/html";
import type { SignInSession } from "../accounts/sessions.ts";
import type { ConsentPageInput, ConsentScope } from "../oauth/authorize/consent.ts";
import { layout, type Html } from "./layout.ts";
import { appMark, envBadge, unverifiedBadge } from "./components.ts";

function scopeItem(s: ConsentScope): Html {
  const tag = s.isNew
    ? html`<span class="tag new">New</span>`
    : s.choice === "granted"
      ? html`<span class="tag before">Allowed before</span>`
      : "";
  const what = html`<span class="what">${s.description}${tag}<code>${s.scope}</code></span>`;
  if (s.choice === "choose") {
    return html`<li><label><input type="checkbox" name="grant_scope" value="${s.scope}"${s.ticked ? raw(" checked") : ""}>${what}</label></li>`;
  }
  if (s.choice === "granted") {
    return html`<li><label><input type="checkbox" checked disabled>${what}</label></li>`;
  }
  return html`<li><div class="row"><span class="fixed" aria-hidden="true">✓</span>${what}</div></li>`;
}

/** The consent page: which app, its environment, what it asks for; Allow or Deny. */
export function consentPage(p: ConsentPageInput): Html {
  const dev = p.client.environment === "DEVELOPMENT";
  const anyChoice = p.scopes.some((s) => s.choice === "choose");
  const anyGranted = p.scopes.some((s) => s.choice === "granted");
  return layout({
    title: `Allow ${p.client.name}?`,
    signedInAs: p.session.user.email,
    csrf: p.session.csrfToken,
    page: "page-consent",
    body: html`<div class="card consent">
  <div class="app-head spaced">
    ${appMark(p.client.name)}
    <div>
      <div class="app-name">${p.client.name}</div>
      ${envBadge(p.client.environment)}${p.client.registeredFrom ? unverifiedBadge() : ""}
    </div>
  </div>
  <h1>${p.client.name} wants to access your scopegate account</h1>
  ${
    dev
      ? html`<p class="dev-note" role="note"><strong>This app is under development.</strong> Its developer has marked it as not yet released, so it may change or misbehave. Only allow it if you know and trust the developer.</p>`
      : ""
  }
  ${
    p.client.registeredFrom
      ? html`<p class="dev-note" role="note"><strong>scopegate has not verified this app.</strong> It registered itself, and its details came from <strong>${p.client.registeredFrom}</strong>. Its name is its own claim: only allow it if you trust ${p.client.registeredFrom}.</p>`
      : ""
  }
  <p class="muted">Signed in as <strong>${p.session.user.email}</strong>.</p>
  ${p.message ? html`<p class="form-error" role="alert">${p.message}</p>` : ""}
  <form method="post" action="${p.action}">
    <input type="hidden" name="csrf" value="${p.session.csrfToken}">
    ${Object.entries(p.hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
    <fieldset>
      <legend>${p.client.name} will be able to:</legend>
      <ul class="scopes">${p.scopes.map(scopeItem)}</ul>
    </fieldset>
    <p class="muted fine">${anyChoice ? "Untick anything you don't want to share. " : ""}${
      anyGranted ? "What you allowed before stays allowed. " : ""
    }You can see and change what this app may do, or disconnect it, at any time under <a href="/account/apps">Connected apps</a>.</p>
    <div class="actions">
      <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
      <button type="submit" name="decision" value="allow">Allow</button>
    </div>
    ${
      p.client.registeredFrom
        ? html`<p class="muted fine">Allow sends you back to <strong>${p.redirectHost}</strong>. Deny keeps you here, with a link back to it that you can choose to follow.</p>`
        : html`<p class="muted fine">Either way, you will go back to <strong>${p.redirectHost}</strong>.</p>`
    }
  </form>
</div>`,
  });
}

/**
 * An authorization request that cannot go back to the app (or a refused consent
 * form). `back`: for an app scopegate does not send users to on its own (one
 * that registered itself), a plain link to it carrying the error, which the
 * user may choose to follow (src/oauth/authorize/refusal.ts).
 */
export function authorizeErrorPage(p: {
  title: string;
  message: string;
  session: SignInSession | null;
  back?: { href: string; host: string };
}): Html {
  return layout({
    title: p.title,
    signedInAs: p.session?.user.email,
    csrf: p.session?.csrfToken,
    body: html`<div class="card">
<h1>${p.title}</h1>
<p class="form-error" role="alert">${p.message}</p>
<p class="muted">scopegate did not share anything with the app.</p>
${
  p.back
    ? html`<p><a href="${p.back.href}" rel="noreferrer">Return to ${p.back.host}</a></p>
<p class="muted fine">Only follow it if you trust ${p.back.host}: it tells the app what happened.</p>`
    : ""
}
</div>`,
  });
}
