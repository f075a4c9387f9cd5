// The /developers page's script (served by src/pages/developers.ts, no build step).
// It calls the GraphQL mutations with the account session cookie and the page's
// CSRF token, shows a new secret once, and refreshes the server-rendered lists
// (clients, and webhook endpoints with their deliveries).
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

  const ENDPOINT_FIELDS = "id url eventTypes enabled secretHint previousSecretExpiresAt";
  const CREATE_WEBHOOK = `mutation CreateWebhookEndpoint($clientId: ID!, $input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(clientId: $clientId, input: $input) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
  const UPDATE_WEBHOOK = `mutation UpdateWebhookEndpoint($id: ID!, $input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(id: $id, input: $input) { ${ENDPOINT_FIELDS} } }`;
  const ROTATE_WEBHOOK = `mutation RotateWebhookSecret($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { ${ENDPOINT_FIELDS} } } }`;
  const DELETE_WEBHOOK = `mutation DeleteWebhookEndpoint($id: ID!) { deleteWebhookEndpoint(id: $id) { id url } }`;
  const RESEND_WEBHOOK = `mutation ResendWebhookDelivery($id: ID!) { resendWebhookDelivery(id: $id) { id eventType status } }`;

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

  /**
   * Fetches the page again and swaps in the server-rendered contents of the
   * elements with these ids (one renderer for each list). The focused control,
   * when it has an id, keeps the focus in the fresh list.
   */
  async function refresh(ids, say) {
    try {
      const res = await fetch(location.pathname, { credentials: "same-origin", headers: { accept: "text/html" } });
      if (!res.ok) throw new Error(String(res.status));
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const focused = document.activeElement?.id;
      for (const id of ids) {
        const fresh = doc.getElementById(id);
        if (!fresh || !$(id)) throw new Error(`no ${id}`);
        $(id).replaceChildren(...Array.from(fresh.childNodes).map((n) => document.importNode(n, true)));
      }
      if (focused && $(focused) && document.activeElement !== $(focused)) $(focused).focus();
    } catch {
      say("Saved. Reload the page to see the updated list.");
    }
  }

  /** A new or revoked client also appears in, or leaves, the webhooks section. */
  const refreshList = () => refresh(["client-list", "webhook-list"], notice);

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
    scope.querySelectorAll("[data-dialog-error], [data-form-error], #create-error").forEach((el) => {
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
      const control = scope.querySelector(`[data-field="${CSS.escape(failure.field)}"], #f-${CSS.escape(failure.field)}`);
      if (control) {
        control.setAttribute("aria-invalid", "true");
        const focusable = control.matches("input, textarea, select") ? control : control.querySelector("input:not(:disabled)");
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

  /** The client or webhook endpoint whose button opened a dialog. */
  let target = null;

  /** Opens a dialog about `subject`; its [data-fill=key] elements show subject[key] (a client's name, an endpoint's url). */
  function openDialog(dialog, subject) {
    target = subject;
    const dialogForm = dialog.querySelector("form");
    clearErrors(dialogForm);
    dialogForm.reset();
    dialog.querySelectorAll("[data-fill]").forEach((el) => {
      el.textContent = subject[el.dataset.fill] ?? "";
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

  // ---- webhooks: add, enable/disable, edit, rotate, delete, resend --------------------

  const asFailure = (err) => (err instanceof GraphQLFailure ? err : new GraphQLFailure("Something went wrong."));
  const utc = (iso) => `${new Date(iso).toISOString().slice(0, 19).replace("T", " ")} UTC`;

  function webhookNotice(text) {
    const el = $("webhook-notice");
    el.textContent = text;
    el.hidden = !text;
  }

  function showWebhookSecret(endpoint, secret) {
    const { id, url, previousSecretExpiresAt: overlapUntil } = endpoint;
    const panel = $("webhook-secret-panel");
    panel.dataset.endpointId = id;
    panel.querySelectorAll('[data-fill="url"]').forEach((el) => {
      el.textContent = url;
    });
    $("webhook-secret-value").textContent = secret;
    const overlap = $("webhook-secret-overlap");
    overlap.textContent = overlapUntil
      ? `The previous secret keeps signing beside it until ${utc(overlapUntil)}: update your receiver before then.`
      : "";
    overlap.hidden = !overlapUntil;
    panel.hidden = false;
    panel.scrollIntoView({ block: "start", behavior: "smooth" });
    panel.focus({ preventScroll: true });
  }

  function hideWebhookSecret() {
    $("webhook-secret-panel").hidden = true;
    delete $("webhook-secret-panel").dataset.endpointId;
    $("webhook-secret-value").textContent = "";
  }

  $("webhook-secret-done").addEventListener("click", () => {
    hideWebhookSecret();
    webhookNotice("");
  });

  const refreshEndpoints = (clientId) => refresh([`wh-endpoints-${clientId}`], webhookNotice);

  /** The endpoint a control belongs to, as the page rendered it. */
  function endpointOf(el) {
    const item = el.closest("[data-endpoint-id]");
    const section = el.closest(".webhook-client");
    if (!item || !section) return null;
    const words = (s) => (s || "").split(" ").filter(Boolean);
    return {
      id: item.dataset.endpointId,
      url: item.dataset.url,
      eventTypes: words(item.dataset.eventTypes),
      enabled: item.dataset.enabled === "true",
      clientId: section.dataset.clientId,
      offered: words(section.dataset.offered),
      item,
    };
  }

  // Add an endpoint: one form per client, inside the list that refreshList() swaps, hence delegated.
  document.addEventListener("submit", async (event) => {
    const addForm = event.target instanceof HTMLFormElement && event.target.matches("form.webhook-add") ? event.target : null;
    if (!addForm) return;
    event.preventDefault();
    clearErrors(addForm);
    webhookNotice("");
    const data = new FormData(addForm);
    const input = {
      url: String(data.get("url") || "").trim(),
      eventTypes: data.getAll("eventTypes").map(String),
      enabled: data.get("enabled") === "on",
    };
    const clientId = addForm.dataset.clientId;
    const submit = addForm.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      const { createWebhookEndpoint: created } = await graphql(CREATE_WEBHOOK, { clientId, input });
      addForm.reset();
      await refreshEndpoints(clientId);
      showWebhookSecret(created.endpoint, created.secret);
      webhookNotice(`Added ${created.endpoint.url}${created.endpoint.enabled ? "" : " (disabled)"}.`);
    } catch (err) {
      showError(addForm, asFailure(err), addForm.querySelector("[data-form-error]"));
    } finally {
      submit.disabled = false;
    }
  });

  function openEndpointEdit(endpoint) {
    const dialog = $("webhook-edit-dialog");
    openDialog(dialog, endpoint);
    dialog.querySelector('input[name="url"]').value = endpoint.url;
    // The client's event types, and any it subscribed to before its client lost the scope (so it can be unticked).
    dialog.querySelectorAll('input[name="eventTypes"]').forEach((box) => {
      const shown = endpoint.offered.includes(box.value) || endpoint.eventTypes.includes(box.value);
      box.closest("label").hidden = !shown;
      box.disabled = !shown;
      box.checked = endpoint.eventTypes.includes(box.value);
    });
  }

  document.addEventListener("click", async (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-wh-action]") : null;
    if (!button) return;
    const endpoint = endpointOf(button);
    if (!endpoint) return;
    const action = button.dataset.whAction;
    if (action === "edit") return openEndpointEdit(endpoint);
    if (action === "rotate") return openDialog($("webhook-rotate-dialog"), endpoint);
    if (action === "delete") return openDialog($("webhook-delete-dialog"), endpoint);

    const slot = endpoint.item.querySelector("[data-endpoint-error]");
    slot.hidden = true;
    slot.textContent = "";
    webhookNotice("");
    button.disabled = true;
    try {
      if (action === "toggle") {
        await graphql(UPDATE_WEBHOOK, { id: endpoint.id, input: { enabled: !endpoint.enabled } });
        await refreshEndpoints(endpoint.clientId);
        webhookNotice(
          endpoint.enabled ? `Disabled ${endpoint.url}: nothing is sent to it until you enable it again.` : `Enabled ${endpoint.url}.`,
        );
      } else if (action === "resend") {
        const row = button.closest("[data-delivery-id]");
        const { resendWebhookDelivery: queued } = await graphql(RESEND_WEBHOOK, { id: row.dataset.deliveryId });
        await refreshEndpoints(endpoint.clientId);
        webhookNotice(`${queued.eventType} ${queued.id} is being sent again. Reload the page to see how it went.`);
      }
    } catch (err) {
      slot.textContent = asFailure(err).message;
      slot.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  confirmWith("webhook-edit-dialog", async (endpoint, data) => {
    const input = { url: String(data.get("url") || "").trim(), eventTypes: data.getAll("eventTypes").map(String) };
    const { updateWebhookEndpoint: updated } = await graphql(UPDATE_WEBHOOK, { id: endpoint.id, input });
    await refreshEndpoints(endpoint.clientId);
    webhookNotice(`Saved ${updated.url}.`);
  });

  confirmWith("webhook-rotate-dialog", async (endpoint) => {
    const { rotateWebhookSecret: rotated } = await graphql(ROTATE_WEBHOOK, { id: endpoint.id });
    await refreshEndpoints(endpoint.clientId);
    showWebhookSecret(rotated.endpoint, rotated.secret);
    webhookNotice(`New signing secret for ${rotated.endpoint.url}.`);
  });

  confirmWith("webhook-delete-dialog", async (endpoint) => {
    const { deleteWebhookEndpoint: deleted } = await graphql(DELETE_WEBHOOK, { id: endpoint.id });
    await refreshEndpoints(endpoint.clientId);
    if ($("webhook-secret-panel").dataset.endpointId === deleted.id) hideWebhookSecret();
    webhookNotice(`Deleted ${deleted.url}.`);
  });
})();
