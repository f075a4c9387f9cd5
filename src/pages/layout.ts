import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { STYLESHEET_URL } from "./assets.ts";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/**
 * Every page's frame. `page` names the stylesheet section the page uses (the
 * class on <body>, see styles.css).
 */
export function layout(opts: { title: string; signedInAs?: string | null; csrf?: string; page?: string; body: Html }): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · scopegate</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${STYLESHEET_URL}">
</head>
<body${opts.page ? html` class="${opts.page}"` : ""}>
<header>
  <a class="brand" href="/">scopegate</a>
  <nav>${
    opts.signedInAs
      ? html`<a href="/account/apps">Connected apps</a><a href="/account/activity">Activity</a><a href="/account">Account</a><a href="/developers">Developers</a><a href="/graphql">GraphiQL</a>`
      : ""
  }</nav>
  ${
    opts.signedInAs
      ? html`<span class="muted" title="${opts.signedInAs}">${opts.signedInAs}</span>
      <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="${opts.csrf ?? ""}"><button class="secondary">Sign out</button></form>`
      : html`<a href="/login">Sign in</a><a href="/signup">Create account</a>`
  }
</header>
<main>${opts.body}</main>
</body>
</html>`;
}

/** A labelled input with its error message tied to it for screen readers. */
export function field(opts: {
  name: string;
  label: string;
  type: "text" | "email" | "password";
  value?: string;
  error?: string;
  autocomplete?: string;
}): Html {
  const id = `f-${opts.name}`;
  return html`<label for="${id}">${opts.label}</label>
<input id="${id}" name="${opts.name}" type="${opts.type}" value="${opts.value ?? ""}"
  autocomplete="${opts.autocomplete ?? "off"}" ${opts.error ? raw(`aria-invalid="true" aria-describedby="${id}-error"`) : ""}>
${opts.error ? html`<p class="field-error" id="${id}-error">${opts.error}</p>` : ""}`;
}
