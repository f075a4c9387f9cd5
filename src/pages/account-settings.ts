import { Hono, type Context } from "hono";
import { html } from "hono/html";
import { AccountAbuseLimits, type PasswordCheckGuard, type Refusal } from "../accounts/abuse-limits.ts";
import { deleteAccount } from "../accounts/deletion.ts";
import { revokeDeletedConnections } from "../connectors/connections.ts";
import { exportAccount } from "../accounts/export.ts";
import { changePassword, type PasswordChangeErrors } from "../accounts/password-change.ts";
import { PASSWORD_HINT } from "../accounts/password-rules.ts";
import { clearSessionCookie, type SignInSession } from "../accounts/sessions.ts";
import type { AppDeps, AppEnv } from "../context.ts";
import { RateLimiter } from "../db/rate-limit.ts";
import { addressLimitKey, requestAddress, TrustedProxies } from "../lib/client-address.ts";
import { field, layout, type Html } from "./layout.ts";
import { accountLayout, flash, inMinutes, utc } from "./account-ui.ts";
import { checkedForm } from "./forms.ts";
import { requireSession } from "./session.ts";

/**
 * /account: the account itself. Change the password (ends every other
 * sign-in), download everything as one JSON file, delete the account. Export
 * and deletion each have their own confirmation page; the password change is
 * confirmed by the current password and the new one typed twice.
 *
 * The password typed to change the password or delete the account spends the
 * sign-in's budget of guesses, per account and per address
 * (src/accounts/abuse-limits.ts): past it, the form comes back with 429, a
 * Retry-After and how long to wait, and the password is not checked.
 */

/** The form-level message of a 429: one for both limits, as at sign-in. */
function tooManyGuesses(refusal: Refusal): string {
  return `Too many wrong passwords. Try again ${inMinutes(refusal.retryAfterSeconds)}.`;
}

type PasswordFormErrors = PasswordChangeErrors & { confirmPassword?: string };

async function overview(
  deps: AppDeps,
  session: SignInSession,
  opts: { message?: string; errors?: PasswordFormErrors } = {},
): Promise<Html> {
  const userId = session.userId;
  const [apps, clients, measurements, otherSessions] = await Promise.all([
    deps.prisma.grant.count({ where: { userId, revokedAt: null } }),
    deps.prisma.oAuthClient.count({ where: { ownerId: userId, revokedAt: null } }),
    deps.prisma.measurement.count({ where: { userId } }),
    deps.prisma.accountSession.count({ where: { userId, revokedAt: null, expiresAt: { gt: new Date() }, id: { not: session.id } } }),
  ]);
  const e = opts.errors ?? {};
  const u = session.user;
  return accountLayout({
    title: "Account",
    session,
    tab: "account",
    body: html`<h1>Account</h1>
${flash(opts.message)}
<div class="stack">
<section class="card" aria-labelledby="h-profile">
  <h2 id="h-profile">Your account</h2>
  <dl class="facts">
    <dt>Name</dt><dd>${u.name}</dd>
    <dt>Email</dt><dd>${u.email}</dd>
    <dt>Member since</dt><dd>${utc(u.createdAt).slice(0, 10)}</dd>
    <dt>Signed in elsewhere</dt><dd>${otherSessions === 0 ? "Nowhere else" : `${otherSessions} other browser${otherSessions === 1 ? "" : "s"} or device${otherSessions === 1 ? "" : "s"}`}</dd>
  </dl>
</section>

<section class="card" aria-labelledby="h-password">
  <h2 id="h-password">Change password</h2>
  <p class="muted flush">You stay signed in here; every other browser and device where you are signed in is signed out.</p>
  ${e.form ? html`<p class="form-error" role="alert">${e.form}</p>` : ""}
  <form method="post" action="/account/password" novalidate>
    <input type="hidden" name="csrf" value="${session.csrfToken}">
    <input type="text" name="username" value="${u.email}" autocomplete="username" hidden>
    ${field({ name: "current_password", label: "Current password", type: "password", error: e.currentPassword, autocomplete: "current-password" })}
    ${field({ name: "new_password", label: "New password", type: "password", error: e.newPassword, autocomplete: "new-password" })}
    ${e.newPassword ? "" : html`<p class="hint">${PASSWORD_HINT}</p>`}
    ${field({ name: "confirm_password", label: "New password again", type: "password", error: e.confirmPassword, autocomplete: "new-password" })}
    <div class="form-actions"><button type="submit">Change password</button></div>
  </form>
</section>

<section class="card" aria-labelledby="h-export">
  <h2 id="h-export">Download your data</h2>
  <p>One JSON file with everything scopegate holds about you: your profile, ${measurements} health measurement${measurements === 1 ? "" : "s"}, workout sessions and GPS points, your sign-ins, your connected apps, the OAuth clients you registered (without secrets) and your activity log.</p>
  <a class="button secondary" href="/account/export">Download my data…</a>
</section>

<section class="card danger-zone" aria-labelledby="h-delete">
  <h2 id="h-delete">Delete account</h2>
  <p>Disconnects ${apps === 1 ? "the 1 app" : `all ${apps} apps`} connected to your account, revokes ${clients === 1 ? "the 1 OAuth client" : `${clients} OAuth clients`} you registered, and erases your profile and health data. This cannot be undone.</p>
  <a class="button danger-outline" href="/account/delete">Delete my account…</a>
</section>
</div>`,
  });
}

function exportConfirm(session: SignInSession, error?: string): Html {
  return accountLayout({
    title: "Download your data",
    session,
    tab: "account",
    body: html`<div class="card">
  <h1>Download all your data?</h1>
  ${flash(error, "error")}
  <p>You get one JSON file with your profile, health measurements, workout sessions, GPS points, sign-ins, connected apps, registered OAuth clients (no secrets) and your activity log.</p>
  <p class="muted">It holds your health data: keep it somewhere safe and only share it with people and apps you trust.</p>
  <form method="post" action="/account/export">
    <input type="hidden" name="csrf" value="${session.csrfToken}">
    <div class="form-actions">
      <button type="submit">Download JSON</button>
      <a class="button secondary" href="/account">Cancel</a>
    </div>
  </form>
</div>`,
  });
}

async function deleteConfirm(
  deps: AppDeps,
  session: SignInSession,
  errors: { password?: string; form?: string; confirm?: string } = {},
): Promise<Html> {
  const userId = session.userId;
  const [apps, clients] = await Promise.all([
    deps.prisma.grant.findMany({
      where: { userId, revokedAt: null },
      include: { client: { select: { name: true } } },
      orderBy: { createdAt: "asc" },
    }),
    deps.prisma.oAuthClient.findMany({
      where: { ownerId: userId, revokedAt: null },
      select: { name: true },
      orderBy: { createdAt: "asc" },
    }),
  ]);
  return accountLayout({
    title: "Delete your account",
    session,
    tab: "account",
    body: html`<div class="card danger-zone">
  <h1>Delete your scopegate account?</h1>
  ${errors.form ? html`<p class="form-error" role="alert">${errors.form}</p>` : ""}
  <p>This cannot be undone. Deleting your account:</p>
  <ul>
    <li>disconnects ${apps.length ? html`every app you connected (${apps.map((a) => a.client.name).join(", ")})` : "every app you connected (none now)"}: their tokens stop working at once;</li>
    <li>revokes ${clients.length ? html`the OAuth clients you registered (${clients.map((c) => c.name).join(", ")}), and the access other people gave them` : "any OAuth client you registered (none now)"};</li>
    <li>erases your profile, health measurements, workout sessions, GPS points and sign-ins, and signs you out everywhere.</li>
  </ul>
  <p class="muted">Other people's activity logs are not changed. Want a copy first? <a href="/account/export">Download your data</a>.</p>
  <form method="post" action="/account/delete" novalidate>
    <input type="hidden" name="csrf" value="${session.csrfToken}">
    <input type="text" name="username" value="${session.user.email}" autocomplete="username" hidden>
    ${field({ name: "password", label: "Your password", type: "password", error: errors.password, autocomplete: "current-password" })}
    <label class="confirm-box"><input type="checkbox" name="confirm" value="yes"${errors.confirm ? html` aria-invalid="true" aria-describedby="f-confirm-error"` : ""}> I understand that my account and data will be deleted for good.</label>
    ${errors.confirm ? html`<p class="field-error" id="f-confirm-error">${errors.confirm}</p>` : ""}
    <div class="form-actions">
      <button type="submit" class="danger">Delete my account</button>
      <a class="button secondary" href="/account">Cancel</a>
    </div>
  </form>
</div>`,
  });
}

function deletedPage(): Html {
  return layout({
    title: "Account deleted",
    body: html`<div class="card"><h1>Your account was deleted</h1>
<p>Every app you had connected lost its access, and your profile and health data were erased.</p>
<p><a href="/">Back to scopegate</a></p></div>`,
  });
}

export function accountSettingsPages(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const signedIn = requireSession(deps, { formsReturnTo: "/account" });
  const form = checkedForm(deps, { token: "session" });
  // The sign-in's limits, counted in the database (src/accounts/abuse-limits.ts).
  const limits = new AccountAbuseLimits(new RateLimiter(deps.prisma), deps.config.abuseLimits);
  const proxies = new TrustedProxies(deps.config.trustProxy);
  const guardOf = (c: Context): PasswordCheckGuard => ({ limits, address: addressLimitKey(requestAddress(c, proxies)) });

  app.get("/account", signedIn, async (c) => {
    const ended = Number(c.req.query("ended"));
    const message =
      c.req.query("password") === "changed"
        ? `Your password was changed.${Number.isInteger(ended) && ended > 0 ? ` ${ended} other sign-in${ended === 1 ? " was" : "s were"} ended.` : ""}`
        : undefined;
    return c.html(await overview(deps, c.var.accountSession, { message }));
  });

  // The form posts here; a GET (a reload, a bookmark) goes to the page that has it.
  app.get("/account/password", (c) => c.redirect("/account", 303));

  app.post("/account/password", signedIn, form, async (c) => {
    const session = c.var.accountSession;
    const next = c.var.form.one("new_password") ?? "";
    if (next && next !== (c.var.form.one("confirm_password") ?? "")) {
      return c.html(await overview(deps, session, { errors: { confirmPassword: "The two new passwords differ." } }), 400);
    }
    const result = await changePassword(
      deps.prisma,
      {
        userId: session.userId,
        keepSessionId: session.id,
        currentPassword: c.var.form.one("current_password"),
        newPassword: next,
      },
      guardOf(c),
    );
    if (!result.ok && "limited" in result) {
      c.var.log.warn(
        { limit: `password check per ${result.limited.reason}`, retryAfter: result.limited.retryAfterSeconds },
        "password change limited",
      );
      c.header("Retry-After", String(result.limited.retryAfterSeconds));
      return c.html(await overview(deps, session, { errors: { form: tooManyGuesses(result.limited) } }), 429);
    }
    if (!result.ok) return c.html(await overview(deps, session, { errors: result.errors }), 400);
    c.var.log.info({ userId: session.userId, endedSessions: result.endedSessions }, "password changed");
    return c.redirect(`/account?password=changed&ended=${result.endedSessions}`, 303);
  });

  app.get("/account/export", signedIn, (c) => c.html(exportConfirm(c.var.accountSession)));

  app.post("/account/export", signedIn, form, async (c) => {
    const session = c.var.accountSession;
    const data = await exportAccount(deps.prisma, session.userId);
    c.var.log.info({ userId: session.userId }, "account data exported");
    c.header("Content-Disposition", `attachment; filename="scopegate-export-${data.exportedAt.slice(0, 10)}.json"`);
    c.header("Content-Type", "application/json; charset=utf-8");
    // Personal data: never kept by a cache on the way.
    c.header("Cache-Control", "no-store");
    return c.body(JSON.stringify(data, null, 2));
  });

  app.get("/account/delete", signedIn, async (c) => c.html(await deleteConfirm(deps, c.var.accountSession)));

  app.post("/account/delete", signedIn, form, async (c) => {
    const session = c.var.accountSession;
    if (c.var.form.one("confirm") !== "yes") {
      return c.html(await deleteConfirm(deps, session, { confirm: "Tick this box to confirm." }), 400);
    }
    const result = await deleteAccount(deps.prisma, { userId: session.userId, password: c.var.form.one("password") }, guardOf(c));
    if (!result.ok && "limited" in result) {
      c.var.log.warn(
        { limit: `password check per ${result.limited.reason}`, retryAfter: result.limited.retryAfterSeconds },
        "account deletion limited",
      );
      c.header("Retry-After", String(result.limited.retryAfterSeconds));
      return c.html(await deleteConfirm(deps, session, { form: tooManyGuesses(result.limited) }), 429);
    }
    if (!result.ok) return c.html(await deleteConfirm(deps, session, result.errors), 400);
    c.var.log.info(
      { userId: session.userId, grantsRevoked: result.grantsRevoked, clientsRevoked: result.clientsRevoked },
      "account deleted",
    );
    await revokeDeletedConnections(deps.prisma, deps.connectors, result.connections, "the user deleted their account");
    clearSessionCookie(c, deps.config.secureCookies);
    return c.html(deletedPage());
  });

  return app;
}
