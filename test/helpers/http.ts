/**
 * A tiny HTTP client for page tests: a cookie jar, manual redirects, form posts,
 * and helpers to read hidden inputs and messages out of the server-rendered pages.
 *
 * The jar sends every cookie it holds whatever its Secure flag says, so that a
 * test can play an https client against a server that listens on plain http.
 */

export interface SetCookie {
  name: string;
  value: string;
  /** attribute names lower-cased; flags (HttpOnly, Secure) map to true */
  attributes: Record<string, string | true>;
}

/** Parses one Set-Cookie header value. */
export function parseSetCookie(header: string): SetCookie {
  const [pair = "", ...rest] = header.split(";");
  const eq = pair.indexOf("=");
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const p = part.trim();
    if (!p) continue;
    const i = p.indexOf("=");
    if (i === -1) attributes[p.toLowerCase()] = true;
    else attributes[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

/** Every Set-Cookie of a response, parsed. */
export function setCookies(res: Response): SetCookie[] {
  return res.headers.getSetCookie().map(parseSetCookie);
}

export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Applies a response's Set-Cookie headers (Max-Age=0 or a past Expires deletes). */
  update(res: Response): void {
    for (const c of setCookies(res)) {
      const maxAge = c.attributes["max-age"];
      const expires = c.attributes.expires;
      const gone =
        (typeof maxAge === "string" && Number(maxAge) <= 0) || (typeof expires === "string" && Date.parse(expires) <= Date.now());
      if (gone) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  delete(name: string): void {
    this.cookies.delete(name);
  }

  /** The Cookie request header, or undefined when the jar is empty. */
  header(): string | undefined {
    if (!this.cookies.size) return undefined;
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
}

/** The value of `<input ... name="NAME" ... value="...">` in a page, HTML entities decoded. */
export function hiddenInput(html: string, name: string): string | undefined {
  for (const tag of html.match(/<input\b[^>]*>/g) ?? []) {
    if (!new RegExp(`\\bname="${name}"`).test(tag)) continue;
    const m = tag.match(/\bvalue="([^"]*)"/);
    return m ? decodeEntities(m[1]!) : "";
  }
  return undefined;
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#x27;/g, "'")
    .replace(/&amp;/g, "&");
}

/** Text of the page's error messages (form-level and per field), tags stripped. */
export function pageErrors(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/<p class="(?:form-error|field-error)"[^>]*>([\s\S]*?)<\/p>/g)) {
    out.push(decodeEntities(m[1]!.replace(/<[^>]+>/g, "").trim()));
  }
  return out;
}

/**
 * One user agent against one server: keeps cookies, never follows redirects
 * (tests look at Location themselves).
 */
export class WebClient {
  readonly jar = new CookieJar();
  constructor(readonly baseUrl: string) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.jar.header();
    if (cookie && !headers.has("cookie")) headers.set("cookie", cookie);
    const res = await fetch(new URL(path, this.baseUrl), { ...init, headers, redirect: "manual" });
    this.jar.update(res);
    return res;
  }

  /** GET a page; returns the response and its body text. */
  async page(path: string, headers: Record<string, string> = {}): Promise<{ res: Response; html: string }> {
    const res = await this.fetch(path, { headers });
    return { res, html: await res.text() };
  }

  /** POST an application/x-www-form-urlencoded form. */
  async postForm(
    path: string,
    fields: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<{ res: Response; html: string }> {
    const res = await this.fetch(path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams(fields).toString(),
    });
    return { res, html: await res.text() };
  }

  /** The hidden `csrf` input of a page (a signed-out form page, or a signed-in page such as /logout). */
  async csrfFrom(path: string): Promise<string> {
    const { res, html } = await this.page(path);
    const token = hiddenInput(html, "csrf");
    if (!token) throw new Error(`GET ${path} (${res.status}) has no csrf input`);
    return token;
  }

  /** Fills and submits /signup the way a browser would (GET the form, POST it back). */
  async signUp(fields: { name: string; email: string; password: string }, returnTo?: string) {
    const csrf = await this.csrfFrom(returnTo ? `/signup?return_to=${encodeURIComponent(returnTo)}` : "/signup");
    return this.postForm("/signup", { csrf, return_to: returnTo ?? "/", ...fields });
  }

  /** Fills and submits /login the way a browser would. */
  async signIn(fields: { email: string; password: string }, returnTo?: string) {
    const csrf = await this.csrfFrom(returnTo ? `/login?return_to=${encodeURIComponent(returnTo)}` : "/login");
    return this.postForm("/login", { csrf, return_to: returnTo ?? "/", ...fields });
  }

  /** A GraphQL POST with the session cookie; `csrf` becomes the X-CSRF-Token header. */
  async graphql(query: string, opts: { csrf?: string; variables?: Record<string, unknown> } = {}) {
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    if (opts.csrf) headers["x-csrf-token"] = opts.csrf;
    const res = await this.fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables: opts.variables }) });
    const text = await res.text();
    let body: { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { res, text, body };
  }
}
