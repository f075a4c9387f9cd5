import { Hono, type Context } from "hono";
import { html } from "hono/html";
import { signIn, signUp, type FieldErrors } from "../accounts/accounts.ts";
import { PASSWORD_HINT } from "../accounts/password-rules.ts";
import { checkFormCsrf, CSRF_REFUSAL, formCsrfToken } from "../accounts/csrf.ts";
import { clearSessionCookie, createAccountSession, revokeAccountSession, writeSessionCookie } from "../accounts/sessions.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { readForm } from "../lib/form.ts";
import { field, layout, type Html } from "./layout.ts";
import { inMinutes } from "./account-ui.ts";
import { checkedForm, csrfRefusal } from "./forms.ts";
import { seedUserData } from "../seed/demo.ts";
import { AccountAbuseLimits, type Refusal } from "../accounts/abuse-limits.ts";
import { knownDeviceFor, knownDeviceNonce, knownDeviceToken, writeKnownDeviceCookie } from "../accounts/known-device.ts";
import { RateLimiter } from "../db/rate-limit.ts";
import { addressLimitKey, requestAddress, TrustedProxies } from "../lib/client-address.ts";
import { pagePolicy } from "./security-headers.ts";
import { loadSession, safeReturnTo } from "./session.ts";

function signupPage(opts: { csrf: string; returnTo: string; values?: Record<string, string>; errors?: FieldErrors }) {
  const e = opts.errors ?? {};
  return layout({
    title: "Create account",
    body: html`<div class="card">
<h1>Create your scopegate account</h1>
${e.form ? html`<p class="form-error" role="alert">${e.form}</p>` : ""}
<form method="post" action="/signup" novalidate>
  <input type="hidden" name="csrf" value="${opts.csrf}">
  <input type="hidden" name="return_to" value="${opts.returnTo}">
  ${field({ name: "name", label: "Name", type: "text", value: opts.values?.name, error: e.name, autocomplete: "name" })}
  ${field({ name: "email", label: "Email", type: "email", value: opts.values?.email, error: e.email, autocomplete: "email" })}
  ${field({ name: "password", label: "Password", type: "password", error: e.password, autocomplete: "new-password" })}
  <p class="muted">${PASSWORD_HINT}</p>
  <button type="submit">Create account</button>
</form>
<p class="muted">Already have an account? <a href="/login${opts.returnTo !== "/" ? `?return_to=${encodeURIComponent(opts.returnTo)}` : ""}">Sign in</a></p>
</div>`,
  });
}

function loginPage(opts: { csrf: string; returnTo: string; email?: string; errors?: FieldErrors }) {
  const e = opts.errors ?? {};
  return layout({
    title: "Sign in",
    body: html`<div class="card">
<h1>Sign in to scopegate</h1>
${e.form ? html`<p class="form-error" role="alert">${e.form}</p>` : ""}
<form method="post" action="/login" novalidate>
  <input type="hidden" name="csrf" value="${opts.csrf}">
  <input type="hidden" name="return_to" value="${opts.returnTo}">
  ${field({ name: "email", label: "Email", type: "email", value: opts.email, error: e.email, autocomplete: "username" })}
  ${field({ name: "password", label: "Password", type: "password", error: e.password, autocomplete: "current-password" })}
  <button type="submit">Sign in</button>
</form>
<p class="muted">New here? <a href="/signup${opts.returnTo !== "/" ? `?return_to=${encodeURIComponent(opts.returnTo)}` : ""}">Create account</a></p>
</div>`,
  });
}

export function accountPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const secure = deps.config.secureCookies;
  const issuerOrigin = new URL(deps.config.issuer).origin;
  // Counted in the database, so every instance sees the same attempts (src/accounts/abuse-limits.ts).
  const limits = new AccountAbuseLimits(new RateLimiter(deps.prisma), deps.config.abuseLimits);
  const proxies = new TrustedProxies(deps.config.trustProxy);
  const addressOf = (c: Context) => addressLimitKey(requestAddress(c, proxies));

  /** 429 with Retry-After: the form again, with what was typed and how long to wait. */
  function tooMany<E extends AppEnv>(c: Context<E>, refusal: Refusal, page: Html) {
    c.header("Retry-After", String(refusal.retryAfterSeconds));
    return c.html(page, 429);
  }

  async function startSession<E extends AppEnv>(c: Context<E>, userId: string, returnTo: string) {
    const { token } = await createAccountSession(deps.prisma, userId, c.req.header("user-agent"));
    writeSessionCookie(c, secure, token);
    c.header("Cache-Control", "no-store");
    return c.redirect(returnTo, 303);
  }

  // Sign-in and sign-up lead into authorization requests: the same headers as the consent page.
  const authorizationPage = pagePolicy("authorization");

  app.get("/signup", authorizationPage, async (c) => {
    const returnTo = safeReturnTo(c.req.query("return_to"));
    if (await loadSession(c, deps)) return c.redirect(returnTo, 303);
    return c.html(signupPage({ csrf: formCsrfToken(c, null, secure), returnTo }));
  });

  // A refused sign-up or sign-in form is shown again, filled in, with the refusal and a fresh token.
  const signupForm = checkedForm(deps, {
    token: "pre-session",
    refuse: (c, form) =>
      c.html(
        signupPage({
          csrf: formCsrfToken(c, null, secure),
          returnTo: safeReturnTo(form.one("return_to")),
          values: { name: form.one("name") ?? "", email: form.one("email") ?? "" },
          errors: { form: CSRF_REFUSAL },
        }),
        403,
      ),
  });
  const loginForm = checkedForm(deps, {
    token: "pre-session",
    refuse: (c, form) =>
      c.html(
        loginPage({
          csrf: formCsrfToken(c, null, secure),
          returnTo: safeReturnTo(form.one("return_to")),
          email: form.one("email"),
          errors: { form: CSRF_REFUSAL },
        }),
        403,
      ),
  });

  app.post("/signup", authorizationPage, signupForm, async (c) => {
    const form = c.var.form;
    const returnTo = safeReturnTo(form.one("return_to"));
    const values = { name: form.one("name") ?? "", email: form.one("email") ?? "" };
    // Reserved before the password is hashed: a flood of sign-ups from one address stops at the limit.
    const attempt = await limits.reserveSignUp(addressOf(c));
    if (!attempt.ok) {
      c.var.log.warn({ limit: "sign-up", retryAfter: attempt.retryAfterSeconds }, "sign-up limited");
      const message = `Too many accounts were created from your network. Try again ${inMinutes(attempt.retryAfterSeconds)}.`;
      return tooMany(c, attempt, signupPage({ csrf: formCsrfToken(c, null, secure), returnTo, values, errors: { form: message } }));
    }
    const result = await signUp(deps.prisma, { ...values, password: form.one("password") ?? "" });
    if (!result.ok) {
      // A form refused before hashing (a missing or invalid field) does not count.
      if (!result.hashed) await limits.notChecked(attempt);
      return c.html(signupPage({ csrf: formCsrfToken(c, null, secure), returnTo, values, errors: result.errors }), 400);
    }
    c.var.log.info({ userId: result.user.id }, "account created");
    writeKnownDeviceCookie(c, secure, knownDeviceToken(result.user));
    // In demo mode a new account starts with sample data to explore.
    if (deps.config.seedDemo) await seedUserData(deps.prisma, result.user.id);
    return startSession(c, result.user.id, returnTo);
  });

  app.get("/login", authorizationPage, async (c) => {
    const returnTo = safeReturnTo(c.req.query("return_to"));
    // prompt=login: an app asked for a new sign-in (src/oauth/authorize/sign-in.ts), so ask even when signed in.
    if (c.req.query("prompt") !== "login" && (await loadSession(c, deps))) return c.redirect(returnTo, 303);
    return c.html(loginPage({ csrf: formCsrfToken(c, null, secure), returnTo }));
  });

  app.post("/login", authorizationPage, loginForm, async (c) => {
    const returnTo = safeReturnTo(c.var.form.one("return_to"));
    const typed = c.var.form.one("email");
    const email = typed ?? "";
    const password = c.var.form.one("password") ?? "";
    // Reserved before the password hash is checked, so parallel guesses cannot all be checked;
    // a form with an empty field is answered without a check, and without counting.
    const guess = Boolean(email.trim() && password);
    // A browser the owner signed in from before has a count of its own: an attacker cannot keep the owner out of it.
    const device = guess ? await knownDeviceFor(c, deps.prisma, secure, email) : null;
    const attempt = guess ? await limits.reserveSignIn(email, addressOf(c), device) : null;
    if (attempt && !attempt.ok) {
      c.var.log.warn({ limit: `sign-in per ${attempt.reason}`, retryAfter: attempt.retryAfterSeconds }, "sign-in limited");
      // One message for both limits: it does not say whether the email has an account.
      const message = `Too many failed sign-in attempts. Try again ${inMinutes(attempt.retryAfterSeconds)}.`;
      return tooMany(c, attempt, loginPage({ csrf: formCsrfToken(c, null, secure), returnTo, email: typed, errors: { form: message } }));
    }
    const result = await signIn(deps.prisma, { email, password });
    if (!result.ok) {
      c.var.log.info("sign-in refused");
      return c.html(loginPage({ csrf: formCsrfToken(c, null, secure), returnTo, email: typed, errors: result.errors }), 401);
    }
    if (attempt) await limits.signInSucceeded(attempt, email, device);
    writeKnownDeviceCookie(c, secure, knownDeviceToken(result.user, knownDeviceNonce(device)));
    c.var.log.info({ userId: result.user.id }, "signed in");
    // Signing in again (prompt=login) replaces this browser's session rather than leaving it live and unreachable.
    const previous = await loadSession(c, deps);
    if (previous) await revokeAccountSession(deps.prisma, previous.id);
    return startSession(c, result.user.id, returnTo);
  });

  // GET only shows a button: signing out from a link would let any site sign a user out.
  app.get("/logout", async (c) => {
    const session = await loadSession(c, deps);
    if (!session) return c.redirect("/login", 303);
    return c.html(
      layout({
        title: "Sign out",
        signedInAs: session.user.email,
        csrf: session.csrfToken,
        body: html`<div class="card"><h1>Sign out?</h1>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${session.csrfToken}"><button type="submit">Sign out</button></form></div>`,
      }),
    );
  });

  app.post("/logout", async (c) => {
    const session = await loadSession(c, deps);
    // Signed out already: nothing to protect, so no token to ask for (the cookie is cleared all the same).
    if (session) {
      const form = await readForm(c);
      if (!checkFormCsrf(c, session, secure, issuerOrigin, form.one("csrf"))) return csrfRefusal(c, "/logout");
      await revokeAccountSession(deps.prisma, session.id);
      c.var.log.info({ userId: session.userId }, "signed out");
    }
    clearSessionCookie(c, secure);
    return c.redirect("/login", 303);
  });

  return app;
}
