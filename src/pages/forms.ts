import type { Context, MiddlewareHandler } from "hono";
import { html } from "hono/html";
import { checkFormCsrf, CSRF_REFUSAL } from "../accounts/csrf.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { readForm, type Form } from "../lib/form.ts";
import { layout } from "./layout.ts";
import { loadSession } from "./session.ts";

/** What a handler behind checkedForm sees: the form, already read and CSRF-checked. */
export type FormEnv = { Variables: { form: Form } };

type Refusal = (c: Context<AppEnv & FormEnv>, form: Form) => Response | Promise<Response>;

/**
 * Every page's form post goes through here: the form is read once (lib/form.ts)
 * and refused with 403 unless it carries this browser's CSRF token (accounts/csrf.ts).
 * `token: "session"` for signed-in forms (the session's own token); "pre-session"
 * for sign-in and sign-up (the double-submit cookie). A refused form gets the one
 * refusal page, unless the route can show its form again with the message.
 */
export function checkedForm(
  deps: AppDeps,
  opts: { token: "session" | "pre-session"; back?: string; refuse?: Refusal },
): MiddlewareHandler<AppEnv & FormEnv> {
  const issuerOrigin = new URL(deps.config.issuer).origin;
  const secure = deps.config.secureCookies;
  return async (c, next) => {
    const form = await readForm(c);
    const session = opts.token === "session" ? await loadSession(c, deps) : null;
    const ok = (opts.token === "pre-session" || session !== null) && checkFormCsrf(c, session, secure, issuerOrigin, form.one("csrf"));
    // (The request's own log line and the refusals metric say 403; nothing more to log.)
    if (!ok) return opts.refuse ? opts.refuse(c, form) : csrfRefusal(c, opts.back ?? c.req.path);
    c.set("form", form);
    return next();
  };
}

/** The refusal page: the one message, and the way back to a fresh copy of the form. */
export function csrfRefusal<E extends AppEnv>(c: Context<E>, back: string): Response | Promise<Response> {
  const session = c.var.session ?? null;
  return c.html(
    layout({
      title: "Form refused",
      signedInAs: session?.user.email,
      csrf: session?.csrfToken,
      body: html`<div class="card">
<h1>This form was not accepted</h1>
<p class="form-error" role="alert">${CSRF_REFUSAL}</p>
<p><a href="${back}">Back to the form</a></p>
</div>`,
    }),
    403,
  );
}
