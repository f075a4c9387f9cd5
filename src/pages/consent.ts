import { html, raw } from "hono/html";
import type { LiveSession } from "../auth/sessions.ts";
import type { ConsentPageInput, ConsentScope } from "../oauth/authorize/consent.ts";
import { layout, type Html } from "./layout.ts";

const CSS = `
.consent h1 { font-size:1.35rem; line-height:1.35; }
.app-line { display:flex; align-items:center; gap:.75rem; margin-bottom:1rem; }
.app-mark { width:2.75rem; height:2.75rem; border-radius:10px; background:#e7f3ee; color:var(--accent); display:flex; align-items:center; justify-content:center; font-weight:700; font-size:1.25rem; flex:none; }
.app-name { font-weight:700; font-size:1.1rem; }
.badge { display:inline-block; font-size:.78rem; font-weight:700; letter-spacing:.02em; border-radius:999px; padding:.1rem .6rem; vertical-align:middle; }
.badge.dev { background:#fff4e5; color:#8a4b00; border:1px solid #f5c27a; }
.badge.prod { background:#ecfdf3; color:#05603a; border:1px solid #abefc6; }
.dev-note { background:#fffaeb; border:1px solid #fedf89; border-radius:6px; padding:.6rem .8rem; color:#7a2e0e; }
.scopes { list-style:none; padding:0; margin:.5rem 0 0; border:1px solid var(--line); border-radius:8px; }
.scopes li { padding:.75rem .9rem; border-top:1px solid var(--line); }
.scopes li:first-child { border-top:0; }
.scopes label { display:flex; gap:.7rem; align-items:flex-start; margin:0; font-weight:400; cursor:pointer; }
.scopes .row { display:flex; gap:.7rem; align-items:flex-start; }
.scopes input[type=checkbox] { width:1.1rem; height:1.1rem; margin:.2rem 0 0; accent-color:var(--accent); flex:none; }
.scopes .fixed { width:1.1rem; flex:none; color:var(--accent); font-weight:700; text-align:center; }
.scopes .what { flex:1; }
.scopes code { display:block; color:var(--muted); font-size:.8rem; }
.tag { font-size:.72rem; font-weight:700; border-radius:4px; padding:.05rem .4rem; margin-left:.35rem; white-space:nowrap; }
.tag.new { background:#eef4ff; color:#1d4ed8; border:1px solid #c7d7fe; }
.tag.before { background:#f2f4f7; color:var(--muted); border:1px solid var(--line); }
fieldset { border:0; padding:0; margin:1rem 0 0; }
legend { font-weight:600; padding:0; }
.actions { display:flex; gap:.75rem; justify-content:flex-end; margin-top:.5rem; }
.actions button { min-width:7rem; }
.fine { font-size:.9rem; }
`;

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
    body: html`<style>${raw(CSS)}</style>
<div class="card consent">
  <div class="app-line">
    <div class="app-mark" aria-hidden="true">${p.client.name.trim().charAt(0).toUpperCase() || "?"}</div>
    <div>
      <div class="app-name">${p.client.name}</div>
      ${dev
        ? html`<span class="badge dev">Development app</span>`
        : html`<span class="badge prod">Production app</span>`}
    </div>
  </div>
  <h1>${p.client.name} wants to access your scopegate account</h1>
  ${dev
    ? html`<p class="dev-note" role="note"><strong>This app is under development.</strong> Its developer has marked it as not yet released, so it may change or misbehave. Only allow it if you know and trust the developer.</p>`
    : ""}
  <p class="muted">Signed in as <strong>${p.session.user.email}</strong>.</p>
  ${p.message ? html`<p class="form-error" role="alert">${p.message}</p>` : ""}
  <form method="post" action="${p.action}">
    <input type="hidden" name="csrf" value="${p.session.csrfToken}">
    ${Object.entries(p.hidden).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
    <fieldset>
      <legend>${p.client.name} will be able to:</legend>
      <ul class="scopes">${p.scopes.map(scopeItem)}</ul>
    </fieldset>
    <p class="muted fine">${anyChoice ? "Untick anything you don't want to share. " : ""}${anyGranted
      ? "What you allowed before stays allowed. "
      : ""}You can see and change what this app may do, or disconnect it, at any time under <a href="/account/apps">Connected apps</a>.</p>
    <div class="actions">
      <button type="submit" name="decision" value="deny" class="secondary">Deny</button>
      <button type="submit" name="decision" value="allow">Allow</button>
    </div>
    <p class="muted fine">Either way, you will go back to <strong>${p.redirectHost}</strong>.</p>
  </form>
</div>`,
  });
}

/** An authorization request that cannot go back to the app (or a refused consent form). */
export function authorizeErrorPage(p: { title: string; message: string; session: LiveSession | null }): Html {
  return layout({
    title: p.title,
    signedInAs: p.session?.user.email,
    csrf: p.session?.csrfToken,
    body: html`<div class="card">
<h1>${p.title}</h1>
<p class="form-error" role="alert">${p.message}</p>
<p class="muted">scopegate did not share anything with the app.</p>
</div>`,
  });
}
