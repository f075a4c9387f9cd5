import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("GraphiQL", () => {
  it("is a small page whose assets are local, cacheable and compressed", async () => {
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html.length).toBeLessThan(20_000);
    const srcs = [...html.matchAll(/(?:src|href)="(\/assets\/graphiql\/[^"]+)"/g)].map((m) => m[1]!);
    expect(srcs.map((s) => s.split("/").pop())).toEqual(["favicon.ico", "graphiql.css", "graphiql.js", "boot.js"]);
    expect(html).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/); // no CDN

    const js = await fetch(`${server.url}${srcs[2]}`, { headers: { "accept-encoding": "gzip" } });
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    const plain = await fetch(`${server.url}${srcs[2]}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
    const text = await plain.text();
    expect(text).toContain("renderYogaGraphiQL");
    expect(js.headers.get("content-encoding")).toBe("gzip");
    // fetch undoes the gzip: the same file either way
    expect(await js.text()).toBe(text);

    expect((await fetch(`${server.url}${srcs[2]!.replace("graphiql.js", "nope.js")}`)).status).toBe(404);
    const icon = await fetch(`${server.url}${srcs[0]}`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get("content-type")).toBe("image/x-icon");
  });

  it("escapes its options so nothing can close the script element", async () => {
    const { renderGraphiQLPage } = await import("../../src/graphql/graphiql.ts");
    const html = renderGraphiQLPage({ title: "x", headers: '{"a":"</script><script>alert(1)</script>"}' });
    expect(html).not.toContain("</script><script>alert(1)");
  });
});
