// HTML for the example partner app. Every value that comes from outside
// (scopegate's answers, the user's profile, error descriptions) goes through
// escapeHtml(); nothing here ever renders a token.

export function escapeHtml(value: unknown): string {
  return String(value ?? "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A pre-escaped fragment: the result of html`...` or safe(). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | null | undefined | false | Interpolation[];

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return "";
  if (Array.isArray(v)) return v.map(render).join("");
  if (v instanceof SafeHtml) return v.value;
  return escapeHtml(v);
}

/** Tagged template: interpolated values are escaped unless they are SafeHtml. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += render(v) + strings[i + 1]!;
  });
  return new SafeHtml(out);
}

const CSS = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f4f6fb; color: #1d2330; }
header { background: #27306b; color: #fff; padding: .8rem 1.5rem; font-weight: 700; }
main { max-width: 46rem; margin: 2rem auto; padding: 0 1.5rem; }
.card { background: #fff; border: 1px solid #d6dbe8; border-radius: 8px; padding: 1.25rem 1.5rem; margin-bottom: 1rem; }
h1 { font-size: 1.4rem; margin-top: 0; }
h2 { font-size: 1.1rem; }
.card > h2:first-child { margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-top: 1px solid #e5e8f0; vertical-align: top; }
th { width: 11rem; color: #4a5370; font-weight: 600; }
code { font-size: .9em; background: #eef1f8; padding: 0 .25rem; border-radius: 3px; }
button { background: #27306b; color: #fff; border: 0; border-radius: 6px; padding: .6rem 1.1rem; font: inherit; font-weight: 600; cursor: pointer; }
button.secondary { background: #fff; color: #27306b; border: 1px solid #27306b; }
form.inline { display: inline-block; margin: .5rem .5rem 0 0; }
.notice { border-radius: 6px; padding: .7rem .9rem; margin-bottom: 1rem; }
.notice.ok { background: #ecfdf3; border: 1px solid #abefc6; }
.notice.error { background: #fef3f2; border: 1px solid #fecdca; }
.muted { color: #5b6480; }
thead th { width: auto; }
form.record { margin: .5rem 0; }
form.record label { display: block; font-weight: 600; margin-bottom: .25rem; }
form.record .field { display: flex; flex-wrap: wrap; align-items: center; gap: .4rem .75rem; margin-bottom: .6rem; }
form.record input { font: inherit; padding: .45rem .6rem; border: 1px solid #b9c0d4; border-radius: 6px; width: 8rem; }
form.record input[aria-invalid=true] { border-color: #b42318; outline: 1px solid #b42318; }
.field-error { color: #b42318; font-weight: 600; margin: 0 0 .6rem; }
form.record .field .field-error { margin: 0; }
`;

/**
 * The "Connect with scopegate" button from scopegate's button kit, exactly as
 * docs/branding.md gives it (test/unit/brand.test.ts compares the two): the
 * SVG is served by scopegate, the accessible name is the image's alt text, and
 * the focus ring (dark outline inside a white ring) shows on light and dark
 * backgrounds alike.
 */
export const CONNECT_BUTTON_CSS = `
.sg-connect { display: inline-block; padding: 0; margin: 0; border: 0; border-radius: 6px; background: none; line-height: 0; cursor: pointer; }
.sg-connect img { display: block; width: 248px; height: 48px; }
.sg-connect:focus-visible { outline: 3px solid #1b1f24; outline-offset: 2px; box-shadow: 0 0 0 2px #ffffff; }
`;

/** The connect button: a POST form (with the session's CSRF token) whose button is scopegate's SVG, from `issuer` (no trailing slash). */
export function connectButton(action: string, csrf: string, issuer: string): SafeHtml {
  return html`<form class="inline" method="post" action="${action}">
<input type="hidden" name="csrf" value="${csrf}">
<button type="submit" class="sg-connect"><img src="${issuer}/brand/v1/connect-button-dark.svg" width="248" height="48" alt="Connect with scopegate"></button>
</form>`;
}

export function page(title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Example partner app</title>
<style>${new SafeHtml(CSS + CONNECT_BUTTON_CSS)}</style>
</head>
<body>
<header>Example partner app</header>
<main>${body}</main>
</body>
</html>`.value;
}

export interface Notice {
  kind: "ok" | "error";
  title: string;
  lines: string[];
}

export function notice(n: Notice | undefined): SafeHtml {
  if (!n) return html``;
  return html`<div class="notice ${n.kind}" role="${n.kind === "error" ? "alert" : "status"}">
<strong>${n.title}</strong>${n.lines.map((l) => html`<br>${l}`)}
</div>`;
}

/** A POST form with the session's CSRF token and one button. */
export function button(action: string, label: string, csrf: string, secondary = false): SafeHtml {
  return html`<form class="inline" method="post" action="${action}">
<input type="hidden" name="csrf" value="${csrf}">
<button type="submit"${secondary ? new SafeHtml(' class="secondary"') : ""}>${label}</button>
</form>`;
}
