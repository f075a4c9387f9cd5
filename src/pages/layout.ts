import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

const CSS = `
:root { color-scheme: light; --fg:#1b1f24; --muted:#59636e; --line:#d1d9e0; --accent:#0b6e4f; --error:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--fg); background:#f6f8fa; }
header { background:#fff; border-bottom:1px solid var(--line); padding:.75rem 1.5rem; display:flex; gap:1.5rem; align-items:center; }
header .brand { font-weight:700; color:var(--accent); text-decoration:none; }
header { flex-wrap:wrap; }
header nav { display:flex; gap:.25rem 1rem; flex:1; flex-wrap:wrap; }
main a { color:var(--accent); }
header nav a { white-space:nowrap; }
header > .muted { max-width:24ch; overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
header a { color:var(--fg); }
main { max-width:44rem; margin:2rem auto; padding:0 1.5rem; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:1.5rem; }
h1 { font-size:1.5rem; margin:0 0 1rem; }
label { display:block; font-weight:600; margin:1rem 0 .25rem; }
input[type=text], input[type=email], input[type=password] { width:100%; padding:.55rem .7rem; border:1px solid var(--line); border-radius:6px; font:inherit; }
input[aria-invalid=true] { border-color:var(--error); }
.field-error { color:var(--error); font-size:.9rem; margin:.25rem 0 0; }
.form-error { color:var(--error); background:#fef3f2; border:1px solid #fecdca; border-radius:6px; padding:.6rem .8rem; }
button { margin-top:1.25rem; background:var(--accent); color:#fff; border:0; border-radius:6px; padding:.6rem 1.1rem; font:inherit; font-weight:600; cursor:pointer; }
button.secondary { background:#fff; color:var(--fg); border:1px solid var(--line); }
.muted { color:var(--muted); }
form.inline { display:inline; }
`;

export function layout(opts: { title: string; signedInAs?: string | null; csrf?: string; body: Html }): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · scopegate</title>
<link rel="icon" href="data:,">
<style>${raw(CSS)}</style>
</head>
<body>
<header>
  <a class="brand" href="/">scopegate</a>
  <nav>${opts.signedInAs
    ? html`<a href="/account/apps">Connected apps</a><a href="/account/activity">Activity</a><a href="/account">Account</a><a href="/developers">Developers</a><a href="/graphql">GraphiQL</a>`
    : ""}</nav>
  ${opts.signedInAs
    ? html`<span class="muted" title="${opts.signedInAs}">${opts.signedInAs}</span>
      <form class="inline" method="post" action="/logout"><input type="hidden" name="csrf" value="${opts.csrf ?? ""}"><button class="secondary" style="margin:0">Sign out</button></form>`
    : html`<a href="/login">Sign in</a><a href="/signup">Create account</a>`}
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
