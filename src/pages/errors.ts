import type { Context } from "hono";
import { html } from "hono/html";
import { asUnavailable } from "../db/unavailable.ts";
import { DomainError, type DomainErrorCode } from "../lib/errors.ts";
import { notFoundBody } from "./account-ui.ts";
import { layout } from "./layout.ts";

/** A DomainError's code as the status of the page that shows it (and of the connector endpoints' answers). */
export const PAGE_STATUS: Record<DomainErrorCode, 400 | 403 | 404 | 413 | 502 | 503> = {
  invalid_input: 400,
  not_found: 404,
  forbidden: 403,
  too_large: 413,
  unavailable: 503,
  upstream: 502,
};

const TITLES: Record<DomainErrorCode | "unexpected", string> = {
  invalid_input: "That did not work",
  not_found: "Not found",
  forbidden: "Not allowed",
  too_large: "That was too much",
  unavailable: "Busy right now",
  upstream: "Another service did not answer",
  unexpected: "Something went wrong",
};

/** The DomainError `err` is (a saturated database counts as unavailable), or null. */
export function domainErrorOf(err: unknown): DomainError | null {
  return asUnavailable(err) ?? (err instanceof DomainError ? err : null);
}

/**
 * The one mapping of errors to HTML pages (app.ts onError, for every page
 * route, and its not-found and body-limit answers): a DomainError's message on
 * a page with its status (unavailable with Retry-After); anything else a 500
 * page that says nothing about the cause.
 * Pages that show an error in place (a form field, a card) classify it with
 * domainErrorOf and PAGE_STATUS too.
 */
export function errorPage(c: Context, err: unknown): Response | Promise<Response> {
  const domain = domainErrorOf(err);
  const kind = domain?.code ?? "unexpected";
  const message = domain ? domain.message : "Something went wrong on our side. Please try again.";
  if (domain && "retryAfterSeconds" in domain) c.header("Retry-After", String(domain.retryAfterSeconds));
  c.header("Cache-Control", "no-store");
  const body = notFoundBody(TITLES[kind], message, { href: "/", label: "Back to scopegate" });
  return c.html(layout({ title: TITLES[kind], body: html`${body}` }), domain ? PAGE_STATUS[domain.code] : 500);
}
