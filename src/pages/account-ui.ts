import type { Context } from "hono";
import { html, raw } from "hono/html";
import type { LiveSession } from "../auth/sessions.ts";
import { loadSession } from "../auth/request-session.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { layout, type Html } from "./layout.ts";

/**
 * What the account pages (/account/apps, /account/activity, /account) share:
 * a signed-in check, protective headers, form reading, the section tabs, time
 * formatting and styles. No JavaScript: every action is a plain form.
 */

export const CSRF_MESSAGE = "This form expired or came from another site. Nothing was changed; please try again.";

/** The signed-in session, or a redirect to /login that comes back here. */
export async function sessionOrLogin(c: Context<AppEnv>, deps: AppDeps): Promise<LiveSession | Response> {
  const session = await loadSession(c, deps);
  if (session) return session;
  const url = new URL(c.req.url);
  // After sign-in: the page itself, or for a form post the page that holds the form.
  const back =
    c.req.method === "GET"
      ? url.pathname + url.search
      : url.pathname.startsWith("/account/apps")
        ? "/account/apps"
        : "/account";
  c.header("Cache-Control", "no-store");
  return c.redirect(`/login?return_to=${encodeURIComponent(back.length <= 1500 ? back : url.pathname)}`, 303);
}

/** No caching, no framing (the buttons here revoke and delete), no scripts. */
export function protect(c: Context): void {
  c.header("Cache-Control", "no-store");
  c.header("X-Frame-Options", "DENY");
  c.header("Content-Security-Policy", "frame-ancestors 'none'; default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; form-action 'self'");
  // Not no-referrer: browsers then send `Origin: null` on the page's own form posts, which the CSRF check refuses.
  c.header("Referrer-Policy", "same-origin");
  c.header("X-Content-Type-Options", "nosniff");
}

/** A form body: every value of every field (checkboxes repeat). Anything unreadable reads as empty. */
export async function readFormAll(c: Context): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded" && type !== "multipart/form-data") return out;
  const body = await c.req.parseBody({ all: true }).catch(() => ({}) as Record<string, unknown>);
  for (const [k, v] of Object.entries(body)) {
    const values = (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
    out.set(k, values);
  }
  return out;
}

/** The single value of a field, or undefined when absent or repeated. */
export function one(form: Map<string, string[]>, name: string): string | undefined {
  const v = form.get(name);
  return v && v.length === 1 ? v[0] : undefined;
}

export type AccountTab = "apps" | "activity" | "account";

export function tabs(current: AccountTab): Html {
  const tab = (id: AccountTab, href: string, label: string) =>
    id === current
      ? html`<a href="${href}" aria-current="page">${label}</a>`
      : html`<a href="${href}">${label}</a>`;
  return html`<nav class="tabs" aria-label="Your account">${tab("apps", "/account/apps", "Connected apps")}${tab("activity", "/account/activity", "Activity")}${tab("account", "/account", "Account")}</nav>`;
}

/** "2025-06-01 14:03 UTC" */
export function utc(d: Date, seconds = false): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)} UTC`;
}

/** "just now", "5 minutes ago", "yesterday", "12 days ago", or the date. */
export function ago(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  if (s < 45) return "just now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m} minute${m === 1 ? "" : "s"} ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} hour${h === 1 ? "" : "s"} ago`;
  const days = Math.round(h / 24);
  if (days === 1) return "yesterday";
  if (days < 30) return `${days} days ago`;
  return d.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** A relative time with the exact one on hover. */
export function when(d: Date): Html {
  return html`<time datetime="${d.toISOString()}" title="${utc(d, true)}">${ago(d)}</time>`;
}

export function envBadge(environment: "DEVELOPMENT" | "PRODUCTION"): Html {
  return environment === "DEVELOPMENT"
    ? html`<span class="badge dev">Development app</span>`
    : html`<span class="badge prod">Production app</span>`;
}

export function appMark(name: string): Html {
  return html`<div class="app-mark" aria-hidden="true">${name.trim().charAt(0).toUpperCase() || "?"}</div>`;
}

export function flash(message: string | undefined, kind: "ok" | "error" = "ok"): Html | "" {
  if (!message) return "";
  return kind === "ok"
    ? html`<p class="flash" role="status">${message}</p>`
    : html`<p class="form-error" role="alert">${message}</p>`;
}

const CSS = `
main { max-width:52rem; }
.tabs { display:flex; gap:.25rem; border-bottom:1px solid var(--line); margin:0 0 1.5rem; }
.tabs a { padding:.5rem .9rem; color:var(--muted); text-decoration:none; border-bottom:2px solid transparent; margin-bottom:-1px; font-weight:600; }
.tabs a[aria-current=page] { color:var(--fg); border-bottom-color:var(--accent); }
.tabs a:hover { color:var(--fg); }
.lede { color:var(--muted); margin:-.5rem 0 1.25rem; }
.stack > * + * { margin-top:1rem; }
.card h2 { font-size:1.1rem; margin:0 0 .5rem; }
.app-head { display:flex; align-items:center; gap:.75rem; }
.app-mark { width:2.6rem; height:2.6rem; border-radius:10px; background:#e7f3ee; color:var(--accent); display:flex; align-items:center; justify-content:center; font-weight:700; font-size:1.2rem; flex:none; }
.app-name { font-weight:700; font-size:1.1rem; margin-right:.4rem; }
.app-meta { color:var(--muted); font-size:.92rem; }
.badge { display:inline-block; font-size:.75rem; font-weight:700; letter-spacing:.02em; border-radius:999px; padding:.05rem .55rem; vertical-align:middle; white-space:nowrap; }
.badge.dev { background:#fff4e5; color:#8a4b00; border:1px solid #f5c27a; }
.badge.prod { background:#ecfdf3; color:#05603a; border:1px solid #abefc6; }
.perms { list-style:none; padding:0; margin:.9rem 0 0; }
.perms li { display:flex; gap:.55rem; align-items:baseline; padding:.2rem 0; }
.perms .tick { color:var(--accent); font-weight:700; width:1rem; flex:none; text-align:center; }
.perms code, .scope-code { color:var(--muted); font-size:.8rem; margin-left:.35rem; }
.row-actions { display:flex; gap:.6rem; align-items:center; flex-wrap:wrap; margin-top:1rem; padding-top:1rem; border-top:1px solid var(--line); }
a.button, button { display:inline-block; margin:0; background:var(--accent); color:#fff; border:1px solid var(--accent); border-radius:6px; padding:.45rem 1rem; font:inherit; font-weight:600; cursor:pointer; text-decoration:none; line-height:1.5; }
a.button.secondary, button.secondary { background:#fff; color:var(--fg); border-color:var(--line); }
a.button.danger, button.danger { background:#b42318; border-color:#b42318; color:#fff; }
a.button.danger-outline { background:#fff; color:#b42318; border-color:#fda29b; }
.spacer { flex:1; }
details.narrow { margin-top:.9rem; }
details.narrow summary { cursor:pointer; color:var(--accent); font-weight:600; }
details.narrow form { margin-top:.6rem; padding:.8rem 1rem; background:#f6f8fa; border:1px solid var(--line); border-radius:8px; }
details.narrow label { display:flex; gap:.6rem; align-items:flex-start; font-weight:400; margin:.35rem 0; }
details.narrow input[type=checkbox] { width:1.05rem; height:1.05rem; margin:.2rem 0 0; accent-color:var(--accent); flex:none; }
details.narrow .fixed { display:flex; gap:.6rem; color:var(--muted); margin:.35rem 0; }
details.narrow button { margin-top:.6rem; }
.flash { background:#ecfdf3; border:1px solid #abefc6; color:#05603a; border-radius:6px; padding:.6rem .8rem; }
.empty { text-align:center; color:var(--muted); padding:2rem 1.5rem; }
.danger-zone { border-color:#fecdca; }
.danger-zone h2 { color:#b42318; }
.confirm-box { display:flex; gap:.6rem; align-items:flex-start; font-weight:400; }
.confirm-box input { margin-top:.3rem; }
.form-actions { display:flex; gap:.75rem; align-items:center; margin-top:1.25rem; }
.form-actions button, .form-actions a.button { margin:0; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:.3rem 1.25rem; margin:0; }
dl.facts dt { color:var(--muted); }
dl.facts dd { margin:0; }
`;

/** The account section's page frame: header, tabs, styles. */
export function accountLayout(opts: { title: string; session: LiveSession; tab: AccountTab; body: Html; css?: string }): Html {
  return layout({
    title: opts.title,
    signedInAs: opts.session.user.email,
    csrf: opts.session.csrfToken,
    body: html`<style>${raw(CSS)}${raw(opts.css ?? "")}</style>
${tabs(opts.tab)}
${opts.body}`,
  });
}

/** A card saying the thing asked for is not there (404). */
export function notFoundBody(title: string, message: string, back: { href: string; label: string }): Html {
  return html`<div class="card"><h1>${title}</h1><p>${message}</p><p><a href="${back.href}">${back.label}</a></p></div>`;
}
