import { html } from "hono/html";
import type { Html } from "./layout.ts";

/** Small pieces that several pages show the same way (styled in styles.css, "shared components"). */

/** An app's initial in a tile, beside its name (decorative: the name is always written out too). */
export function appMark(name: string): Html {
  return html`<div class="app-mark" aria-hidden="true">${name.trim().charAt(0).toUpperCase() || "?"}</div>`;
}

/**
 * A badge's colour, named after its first use; other pages reuse them by
 * meaning: "prod" green (live, done: a connected account, a delivered webhook),
 * "dev" amber (caution, not done yet: unverified, pending), "revoked" red
 * (ended, failed), "first" blue, "plain" grey.
 */
export type BadgeTone = "plain" | "dev" | "prod" | "revoked" | "first";

export function badge(label: string, tone: BadgeTone = "plain"): Html {
  return tone === "plain" ? html`<span class="badge">${label}</span>` : html`<span class="badge ${tone}">${label}</span>`;
}

const ENVIRONMENT_LABELS = {
  app: { DEVELOPMENT: "Development app", PRODUCTION: "Production app" },
  word: { DEVELOPMENT: "Development", PRODUCTION: "Production" },
  short: { DEVELOPMENT: "Dev", PRODUCTION: "Prod" },
} as const;

/** A client that registered itself (RFC 7591): nobody at scopegate checked who made it. */
export function unverifiedBadge(): Html {
  return badge("Unverified", "dev");
}

/** A client's environment: "Development app" beside an app's name, "Development" in a list of facts, "Dev" in a table. */
export function envBadge(environment: "DEVELOPMENT" | "PRODUCTION", form: keyof typeof ENVIRONMENT_LABELS = "app"): Html {
  return badge(ENVIRONMENT_LABELS[form][environment], environment === "DEVELOPMENT" ? "dev" : "prod");
}

/**
 * A confirmation dialog of the Developers page: its title, what it will do,
 * the error line the page's script fills, Cancel and the confirming button.
 * developers.client.js finds it by `<name>-dialog` (confirmWith) and fills
 * its `data-fill` spans with the row's values.
 */
export function confirmDialog(opts: { name: string; title: Html; body: Html; confirm: string; danger?: boolean }): Html {
  return html`<dialog id="${opts.name}-dialog" aria-labelledby="${opts.name}-title">
  <form method="dialog" novalidate>
    <h2 id="${opts.name}-title">${opts.title}</h2>
    ${opts.body}
    <p class="form-error" data-dialog-error role="alert" hidden></p>
    <div class="buttons">
      <button type="button" class="secondary" data-close>Cancel</button>
      <button type="submit"${opts.danger ? html` class="danger"` : ""}>${opts.confirm}</button>
    </div>
  </form>
</dialog>`;
}
