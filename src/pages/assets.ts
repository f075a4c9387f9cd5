import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { compress } from "hono/compress";
import type { AppEnv } from "../context.ts";

/**
 * The pages' one stylesheet (styles.css), read once and served from a URL
 * that carries its content hash: browsers keep it for a year, and a changed
 * file gets a new URL, so no page ever gets yesterday's styles. (Hono's
 * serveStatic reads the disk on every request and knows nothing of hashed
 * names, hence this small route.)
 */
const CSS = readFileSync(new URL("./styles.css", import.meta.url), "utf8");
const VERSION = createHash("sha256").update(CSS).digest("hex").slice(0, 12);

export const STYLESHEET_URL = `/assets/pages/${VERSION}/styles.css`;

export function pageAssets(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // An old hash (a page from before a deploy) is 404, never today's file under yesterday's name.
  app.get(STYLESHEET_URL, compress(), (c) => {
    c.header("Content-Type", "text/css; charset=utf-8");
    c.header("Cache-Control", "public, max-age=31536000, immutable");
    return c.body(CSS);
  });
  return app;
}
