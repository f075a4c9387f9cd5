// The /developers page's script (served by src/pages/developers.ts, no build step).
// It calls the GraphQL mutations with the account session cookie and the page's
// CSRF token, shows a new secret once, and refreshes the server-rendered list.
// Text only ever goes into the page through textContent.

(() => {
  const root = document.getElementById("developers");
  if (!root) return;
  const csrf = root.dataset.csrf || "";
  const $ = (id) => document.getElementById(id);

  const CLIENT_FIELDS =
    "clientId name environment type redirectUris scopes firstParty accessTokenTtl refreshTokens secretHint createdAt revokedAt";
  const CREATE = `mutation CreateOAuthClient($input: CreateOAuthClientInput!) {
    createOAuthClient(input: $input) { clientSecret client { ${CLIENT_FIELDS} } } }`;
  const ROTATE = `mutation RotateOAuthClientSecret($clientId: ID!, $gracePeriodSeconds: Int) {
    rotateOAuthClientSecret(clientId: $clientId, gracePeriodSeconds: $gracePeriodSeconds) { clientSecret client { ${CLIENT_FIELDS} } } }`;
  const REVOKE = `mutation RevokeOAuthClient($clientId: ID!) { revokeOAuthClient(clientId: $clientId) { ${CLIENT_FIELDS} } }`;

  class GraphQLFailure extends Error {
    constructor(message, field) {
      super(message);
      this.field = field;
    }
  }

  /** Runs one mutation; resolves with its data or rejects with a GraphQLFailure (message and field at fault). */
  async function graphql(query, variables) {
    let res;
    try {
      res = await fetch("/graphql", {
        method: "POST",
        credentials: "same-origin",
        headers: { "content-type": "application/json", accept: "application/json", "x-csrf-token": csrf },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new GraphQLFailure("Could not reach scopegate. Check your connection and try again.");
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const error = body && Array.isArray(body.errors) ? body.errors[0] : null;
    const code = error?.extensions ? error.extensions.code : undefined;
    if (res.status === 401 || code === "UNAUTHENTICATED" || code === "CSRF_TOKEN_INVALID") {
      throw new GraphQLFailure("Your session has ended. Reload the page and sign in again.");
    }
    if (error) {
      const field = error.extensions && typeof error.extensions.field === "string" ? error.extensions.field : undefined;
      throw new GraphQLFailure(error.message || "Something went wrong.", field);
    }
    if (!res.ok || !body?.data) throw new GraphQLFailure("Something went wrong on our side. Try again.");
    return body.data;
  }

  /** "redirectUris redirect URI x must ..." reads better next to its label without the field name in front. */
  function forField(message, field) {
    const text = field && message.startsWith(`${field} `) ? message.slice(field.length + 1) : message;
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // ---- notices, the one-time secret, the list --------------------------------

  function notice(text) {
    const el = $("notice");
    el.textContent = text;
    el.hidden = !text;
  }

  function showSecret(client, secret) {
    const panel = $("secret-panel");
    panel.querySelectorAll('[data-fill="name"]').forEach((el) => {
      el.textContent = client.name;
    });
    $("secret-value").textContent = secret;
    $("secret-client-id").textContent = client.clientId;
    panel.hidden = false;
    panel.scrollIntoView({ block: "start", behavior: "smooth" });
    panel.focus({ preventScroll: true });
  }

  function hideSecret() {
    $("secret-panel").hidden = true;
    $("secret-value").textContent = "";
    $("secret-client-id").textContent = "";
  }

  /** Fetches the page again and swaps in the server-rendered list (one renderer for the list). */
  async function refreshList() {
    try {
      const res = await fetch(location.pathname, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (!res.ok) throw new Error(String(res.status));
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = doc.getElementById("client-list");
      if (!fresh) throw new Error("no list");
      $("client-list").replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
    } catch {
      notice("Saved. Reload the page to see the updated list.");
    }
  }

  // ---- copy buttons ------------------------------------------------------------

  async function copyText(text, source) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch {
      // fall through to selecting the text
    }
    if (source) {
      const range = document.createRange();
      range.selectNodeContents(source);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try {
        return document.execCommand("copy");
      } catch {
        return false;
      }
    }
    return false;
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-copy], button[data-copy-from]") : null;
    if (!button) return;
    const source = button.dataset.copyFrom ? $(button.dataset.copyFrom) : null;
    const text = button.dataset.copy ?? (source ? source.textContent : "");
    if (!text) return;
    const ok = await copyText(text, source);
    button.dataset.label ??= button.textContent;
    button.textContent = ok ? "Copied" : "Press Ctrl+C";
    clearTimeout(Number(button.dataset.timer));
    button.dataset.timer = String(setTimeout(() => (button.textContent = button.dataset.label), 2000));
  });

  $("secret-done").addEventListener("click", () => {
    hideSecret();
    notice("");
  });

  // ---- field errors --------------------------------------------------------------

  const form = $("create-form");

  function clearErrors(scope) {
    scope.querySelectorAll("[data-error-for]").forEach((el) => {
      el.hidden = true;
      el.textContent = "";
    });
    scope.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
    });
    scope.querySelectorAll("[data-dialog-error], #create-error").forEach((el) => {
      el.hidden = true;
      el.textContent = "";
    });
  }

  /** Puts the message next to its field (by extensions.field), or above the button when no field matches. */
  function showError(scope, failure, fallback) {
    const slot = failure.field ? scope.querySelector(`[data-error-for="${CSS.escape(failure.field)}"]`) : null;
    if (slot) {
      slot.textContent = forField(failure.message, failure.field);
      slot.hidden = false;
      const control = scope.querySelector(`#f-${CSS.escape(failure.field)}`);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const focusable = control.matches("input, textarea, select") ? control : control.querySelector("input");
        if (focusable) focusable.focus();
      }
      return;
    }
    fallback.textContent = failure.message;
    fallback.hidden = false;
  }

  // ---- create --------------------------------------------------------------------

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    notice("");
    const data = new FormData(form);
    const input = {
      name: String(data.get("name") || ""),
      environment: String(data.get("environment") || ""),
      type: String(data.get("type") || ""),
      redirectUris: String(data.get("redirectUris") || "")
        .split(/\r?\n/)
        .map((s) => s.trim())
        .filter(Boolean),
      scopes: data.getAll("scopes").map(String),
      refreshTokens: data.get("refreshTokens") === "on",
    };
    const ttl = String(data.get("accessTokenTtl") || "").trim();
    if (ttl) {
      const n = Number(ttl);
      if (!Number.isInteger(n)) {
        showError(form, new GraphQLFailure("Enter a whole number of seconds.", "accessTokenTtl"), $("create-error"));
        return;
      }
      input.accessTokenTtl = n;
    }
    if (form.querySelector('input[name="firstParty"]')) input.firstParty = data.get("firstParty") === "on";

    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const { createOAuthClient: created } = await graphql(CREATE, { input });
      form.reset();
      await refreshList();
      if (created.clientSecret) {
        showSecret(created.client, created.clientSecret);
        notice(`Created ${created.client.name}.`);
      } else {
        hideSecret();
        notice(`Created ${created.client.name}. Public clients have no secret: use the client ID with PKCE.`);
        $("notice").scrollIntoView({ block: "center", behavior: "smooth" });
      }
    } catch (err) {
      showError(form, err instanceof GraphQLFailure ? err : new GraphQLFailure("Something went wrong."), $("create-error"));
    } finally {
      submit.disabled = false;
    }
  });

  // ---- rotate and revoke, each behind a confirmation dialog ---------------------------

  /** The client whose button opened a dialog. */
  let target = null;

  function openDialog(dialog, client) {
    target = client;
    const dialogForm = dialog.querySelector("form");
    clearErrors(dialogForm);
    dialogForm.reset();
    dialog.querySelectorAll('[data-fill="name"]').forEach((el) => {
      el.textContent = client.name;
    });
    dialog.showModal();
  }

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!button) return;
    const item = button.closest("[data-client-id]");
    if (!item) return;
    const client = { clientId: item.dataset.clientId, name: item.dataset.clientName };
    if (button.dataset.action === "rotate") openDialog($("rotate-dialog"), client);
    if (button.dataset.action === "revoke") openDialog($("revoke-dialog"), client);
  });

  document.querySelectorAll("dialog [data-close]").forEach((b) => {
    b.addEventListener("click", () => b.closest("dialog").close());
  });

  function confirmWith(dialogId, run) {
    const dialog = $(dialogId);
    const dialogForm = dialog.querySelector("form");
    dialogForm.addEventListener("submit", async (event) => {
      event.preventDefault(); // stay open until the mutation answers
      if (!target) return;
      clearErrors(dialogForm);
      const buttons = dialog.querySelectorAll("button");
      buttons.forEach((b) => {
        b.disabled = true;
      });
      try {
        await run(target, new FormData(dialogForm));
        dialog.close();
      } catch (err) {
        showError(
          dialogForm,
          err instanceof GraphQLFailure ? err : new GraphQLFailure("Something went wrong."),
          dialog.querySelector("[data-dialog-error]"),
        );
      } finally {
        buttons.forEach((b) => {
          b.disabled = false;
        });
      }
    });
  }

  confirmWith("rotate-dialog", async (client, data) => {
    const gracePeriodSeconds = Number(data.get("gracePeriodSeconds") || 0);
    const { rotateOAuthClientSecret: rotated } = await graphql(ROTATE, { clientId: client.clientId, gracePeriodSeconds });
    await refreshList();
    showSecret(rotated.client, rotated.clientSecret);
    notice(
      gracePeriodSeconds > 0
        ? `New secret for ${rotated.client.name}. The old one keeps working until the grace period ends.`
        : `New secret for ${rotated.client.name}. The old one no longer works.`,
    );
  });

  confirmWith("revoke-dialog", async (client) => {
    const { revokeOAuthClient: revoked } = await graphql(REVOKE, { clientId: client.clientId });
    await refreshList();
    if ($("secret-client-id").textContent === revoked.clientId) hideSecret();
    notice(`${revoked.name} was revoked. Its tokens no longer work.`);
  });
})();
