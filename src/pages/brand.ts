import { readFileSync } from "node:fs";
import { Hono } from "hono";
import type { AppEnv } from "../context.ts";

/**
 * The "Connect with scopegate" buttons that partner apps put on their pages
 * (docs/branding.md): two colour variants in two sizes, as SVG files in
 * ./brand/<version>/, read once at start.
 *
 * Caching: the URL carries the kit's version (/brand/v1/...), and the bytes
 * under a version never change, so each file is served `immutable` for a
 * year: a partner's page loads it once, with no revalidation on later visits
 * (a moderate max-age with an ETag would cost every visitor a conditional
 * request now and then, for a file that does not change). A new design gets a
 * new version folder and v1 stays served as it is, so snippets already pasted
 * into partners' pages keep working. test/unit/brand.test.ts pins v1's bytes.
 */

export const BRAND_VERSION = "v1";

export interface ConnectButton {
  /** the file name without .svg */
  name: string;
  /** dark: the filled green button; light: white with a green border */
  variant: "dark" | "light";
  size: "regular" | "small";
  /** intrinsic size in CSS pixels: the size to show it at (never smaller) */
  width: number;
  height: number;
}

export const CONNECT_BUTTONS: readonly ConnectButton[] = [
  { name: "connect-button-dark", variant: "dark", size: "regular", width: 248, height: 48 },
  { name: "connect-button-light", variant: "light", size: "regular", width: 248, height: 48 },
  { name: "connect-button-dark-small", variant: "dark", size: "small", width: 212, height: 36 },
  { name: "connect-button-light-small", variant: "light", size: "small", width: 212, height: 36 },
];

/** Where the server serves a button: /brand/v1/connect-button-dark.svg */
export function connectButtonPath(name: string): string {
  return `/brand/${BRAND_VERSION}/${name}.svg`;
}

/** The SVG source of a button of the current version. */
export function connectButtonSvg(name: string): string {
  return readFileSync(new URL(`./brand/${BRAND_VERSION}/${name}.svg`, import.meta.url), "utf8");
}

const HEADERS = {
  "Content-Type": "image/svg+xml",
  "Cache-Control": "public, max-age=31536000, immutable",
  // Opened as a document (not through <img>), an SVG could run script. These
  // have none, and the policy makes sure none would run: nothing may load,
  // `sandbox` gives the document no script and a unique origin, and no page may frame it.
  "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; sandbox",
  "X-Frame-Options": "DENY",
  "X-Content-Type-Options": "nosniff",
  // Partners' pages on other origins show these, also under Cross-Origin-Embedder-Policy.
  "Cross-Origin-Resource-Policy": "cross-origin",
} as const;

export function brandAssets(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  for (const button of CONNECT_BUTTONS) {
    const svg = connectButtonSvg(button.name);
    app.get(connectButtonPath(button.name), (c) => c.body(svg, 200, HEADERS));
  }
  return app;
}
