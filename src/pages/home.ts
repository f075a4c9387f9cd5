import { Hono } from "hono";
import { html } from "hono/html";
import type { AppDeps, AppEnv } from "../context.ts";
import { layout } from "./layout.ts";
import { loadSession } from "./session.ts";

export function homePage(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
    const session = await loadSession(c, deps);
    if (!session) {
      return c.html(
        layout({
          title: "Welcome",
          body: html`<div class="card"><h1>scopegate</h1>
<p>Your health data, shared only with the apps you allow, and only the parts you allow.</p>
<p><a href="/login">Sign in</a> or <a href="/signup">create an account</a>.</p></div>`,
        }),
      );
    }
    return c.html(
      layout({
        title: "Your account",
        signedInAs: session.user.email,
        csrf: session.csrfToken,
        body: html`<div class="card"><h1>Hello, ${session.user.name}</h1>
<p>You are signed in as <strong>${session.user.email}</strong>.</p>
<ul>
  <li><a href="/account/apps">Connected apps</a>: which apps can reach your data</li>
  <li><a href="/account/connections">Linked accounts</a>: your accounts at other services</li>
  <li><a href="/account/activity">Activity</a>: who read or wrote what, and when</li>
  <li><a href="/developers">Developers</a>: API keys for your own apps</li>
  <li><a href="/graphql">GraphiQL</a>: explore the API as yourself</li>
</ul></div>`,
      }),
    );
  });
  return app;
}
