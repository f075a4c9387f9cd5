import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { css, editorWorkerService, favicon, graphqlWorker, js, jsonWorker } from "@graphql-yoga/render-graphiql/graphiql";
import { Hono } from "hono";
import type { GraphiQLOptions } from "graphql-yoga";
import type { AppEnv } from "../context.ts";

/**
 * GraphiQL from the local package, as separate cacheable files instead of one
 * 9 MB page (what @graphql-yoga/render-graphiql inlines on every load).
 */
const FILES: Record<string, { body: string; type: string }> = {
  "graphiql.css": { body: css, type: "text/css; charset=utf-8" },
  "graphiql.js": { body: js, type: "text/javascript; charset=utf-8" },
  "editor.worker.js": { body: editorWorkerService, type: "text/javascript; charset=utf-8" },
  "json.worker.js": { body: jsonWorker, type: "text/javascript; charset=utf-8" },
  "graphql.worker.js": { body: graphqlWorker, type: "text/javascript; charset=utf-8" },
  "boot.js": {
    type: "text/javascript; charset=utf-8",
    body: `(function () {
  var base = document.currentScript.src.replace(/boot\\.js$/, "");
  var workers = { editorWorkerService: base + "editor.worker.js", json: base + "json.worker.js", graphql: base + "graphql.worker.js" };
  self.MonacoEnvironment = { globalAPI: false, getWorkerUrl: function (_id, label) { return workers[label]; } };
  var options = JSON.parse(document.getElementById("graphiql-options").textContent);
  YogaGraphiQL.renderYogaGraphiQL(document.querySelector("#root"), options);
})();`,
  },
};

const icon = /^data:([^;,]+);base64,(.*)$/.exec(favicon);
const FAVICON = icon ? { type: icon[1]!, body: Buffer.from(icon[2]!, "base64") } : null;

// The content hash in the path lets browsers cache the files for good.
const VERSION = createHash("sha256")
  .update(
    Object.values(FILES)
      .map((f) => f.body)
      .join("\0"),
  )
  .digest("hex")
  .slice(0, 12);
export const GRAPHIQL_ASSETS = `/assets/graphiql/${VERSION}`;

const gzipped = new Map<string, Buffer>();

export function graphiqlAssets(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get(`${GRAPHIQL_ASSETS}/favicon.ico`, (c) => {
    if (!FAVICON) return c.notFound();
    c.header("Content-Type", FAVICON.type);
    c.header("Cache-Control", "public, max-age=31536000, immutable");
    return c.body(new Uint8Array(FAVICON.body));
  });
  app.get(`${GRAPHIQL_ASSETS}/:file`, (c) => {
    const name = c.req.param("file");
    const file = Object.hasOwn(FILES, name) ? FILES[name] : undefined;
    if (!file) return c.notFound();
    c.header("Content-Type", file.type);
    c.header("Cache-Control", "public, max-age=31536000, immutable");
    c.header("Vary", "Accept-Encoding");
    if (/\bgzip\b/.test(c.req.header("accept-encoding") ?? "")) {
      let body = gzipped.get(name);
      if (!body) {
        body = gzipSync(file.body);
        gzipped.set(name, body);
      }
      c.header("Content-Encoding", "gzip");
      return c.body(new Uint8Array(body));
    }
    return c.body(file.body);
  });
  return app;
}

/** The GraphiQL page: a small shell that loads the cached files above. */
export function renderGraphiQLPage(opts?: GraphiQLOptions): string {
  // "<" escaped so that nothing in the options can close the script element.
  const options = JSON.stringify(opts ?? {}).replace(/</g, "\\u003c");
  const title = (opts?.title ?? "GraphiQL").replace(/[<>&"]/g, "");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${title}</title>
<link rel="icon" href="${GRAPHIQL_ASSETS}/favicon.ico">
<link rel="stylesheet" href="${GRAPHIQL_ASSETS}/graphiql.css">
</head>
<body id="body" class="no-focus-outline">
<noscript>You need to enable JavaScript to run GraphiQL.</noscript>
<div id="root"></div>
<script type="application/json" id="graphiql-options">${options}</script>
<script src="${GRAPHIQL_ASSETS}/graphiql.js"></script>
<script src="${GRAPHIQL_ASSETS}/boot.js"></script>
</body>
</html>`;
}
