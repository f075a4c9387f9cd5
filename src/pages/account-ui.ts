import { html } from "hono/html";
import type { SignInSession } from "../accounts/sessions.ts";
import { layout, type Html } from "./layout.ts";

/**
 * What the account pages (/account/apps, /account/connections, /account/activity,
 * /account) share: the section tabs, time formatting, messages and the page frame. No
 * JavaScript: every action is a plain form (checked by forms.ts), and every
 * page sits behind the session guard (session.ts).
 */

export type AccountTab = "apps" | "connections" | "activity" | "account";

export function tabs(current: AccountTab): Html {
  const tab = (id: AccountTab, href: string, label: string) =>
    id === current ? html`<a href="${href}" aria-current="page">${label}</a>` : html`<a href="${href}">${label}</a>`;
  return html`<nav class="tabs" aria-label="Your account">${tab("apps", "/account/apps", "Connected apps")}${tab("connections", "/account/connections", "Linked accounts")}${tab("activity", "/account/activity", "Activity")}${tab("account", "/account", "Account")}</nav>`;
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

/** "in 3 minutes", "in 1 minute": how long a refused attempt has to wait (a 429's Retry-After), for the page. */
export function inMinutes(seconds: number): string {
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  return `in ${minutes} minute${minutes === 1 ? "" : "s"}`;
}

export function flash(message: string | undefined, kind: "ok" | "error" = "ok"): Html | "" {
  if (!message) return "";
  return kind === "ok" ? html`<p class="flash" role="status">${message}</p>` : html`<p class="form-error" role="alert">${message}</p>`;
}

/** The account section's page frame: header, tabs; `page` adds a page's own stylesheet section. */
export function accountLayout(opts: { title: string; session: SignInSession; tab: AccountTab; body: Html; page?: string }): Html {
  return layout({
    title: opts.title,
    signedInAs: opts.session.user.email,
    csrf: opts.session.csrfToken,
    page: opts.page ? `section-account ${opts.page}` : "section-account",
    body: html`${tabs(opts.tab)}
${opts.body}`,
  });
}

/** A card saying the thing asked for is not there (404). */
export function notFoundBody(title: string, message: string, back: { href: string; label: string }): Html {
  return html`<div class="card"><h1>${title}</h1><p>${message}</p><p><a href="${back.href}">${back.label}</a></p></div>`;
}
