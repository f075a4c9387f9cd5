/**
 * Imports point down (DESIGN.md "Layout"): no two folders of src/ import each
 * other, and each layer imports only the layers below it. `npm run lint:deps`
 * (run by .ci/run) fails on an import that points up.
 *
 * Bottom to top. A folder not listed (a new capability) must be added here.
 */
const LAYERS = [
  ["lib"], // small shared helpers: crypto, log, time, cursors, the domain error type
  ["db", "generated"], // the database and the Prisma client
  ["audit"], // the audit trail
  ["webhooks"], // the webhook outbox (written in the transaction of each change), signing and delivery
  ["consent"], // scopes, grants, connected apps
  ["clients"], // client registration and administration, webhook endpoints included
  ["accounts"], // users, sign-in sessions, passwords, export, deletion
  ["oauth", "connectors"], // the protocols: our authorization server; scopegate as OAuth client of other providers (its two HTTP endpoints are a surface: pages/connector-endpoints.ts)
  ["auth"], // request -> viewer
  ["metrics"],
  ["graphql", "pages", "mcp", "seed"], // the surfaces (pages/ also holds the connector endpoints, whose browser side is pages and whose signed-in check is requireSession)
];

const folders = (names) => `^src/(${names.join("|")})/`;

/** The files at the top of src/: the application's wiring (main.ts, server.ts, app.ts, config.ts, context.ts, request-env.ts). */
const TOP_LEVEL_FILE = "^src/[^/]+\\.ts$";

/**
 * The top-level files that folders may import, as types only, and which
 * folders may. Each imports nothing from the folders that import it: they
 * would import each other through it, which no-folder-cycles does not see
 * (it does not count src/*.ts as a folder of its own). context.ts's AppDeps
 * names the services of oauth/, metrics/ and connectors/, so those folders
 * type their routes with request-env.ts and deps types of their own. No
 * folder imports app.ts, server.ts or main.ts, nor a top-level file not listed.
 */
const SURFACES = LAYERS[LAYERS.length - 1];
const TOP_LEVEL_IMPORTED_BY = {
  "request-env.ts": ["oauth", "connectors", "auth", "metrics", ...SURFACES], // AppEnv, the Hono variables of a request
  "config.ts": ["oauth", "metrics", ...SURFACES], // Config (config.ts itself reads connectors/providers.ts)
  "context.ts": SURFACES, // AppDeps, everything app.ts wires up
};

const topLevelRules = Object.entries(TOP_LEVEL_IMPORTED_BY).flatMap(([file, importers]) => [
  {
    name: `only-listed-folders-import-${file}`,
    comment: `src/${file} is imported only from src/${importers.join(", src/")} (.dependency-cruiser.cjs TOP_LEVEL_IMPORTED_BY).`,
    severity: "error",
    from: { path: "^src/[^/]+/", pathNot: folders(importers) },
    to: { path: `^src/${file.replace(".", "\\.")}$` },
  },
  {
    name: `${file}-imports-none-of-its-importers`,
    comment: `src/${file} is imported from src/${importers.join(", src/")}: importing from them would make a cycle.`,
    severity: "error",
    from: { path: `^src/${file.replace(".", "\\.")}$` },
    to: { path: folders(importers) },
  },
]);

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer.join("-")}-imports-down`,
  comment: `src/${layer.join(", src/")} may import only layers below it (.dependency-cruiser.cjs LAYERS).`,
  severity: "error",
  from: { path: folders(layer) },
  to: { path: folders(LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: "no-folder-cycles",
      comment: "Two folders of src/ that import each other (directly or through others): one of them points up.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, pathNot: "^src/generated/" },
      scope: "folder",
    },
    {
      name: "no-cycles-through-top-level-files",
      comment: "A cycle of modules that passes through a file at the top of src/ (no-folder-cycles does not see those).",
      severity: "error",
      from: { path: TOP_LEVEL_FILE },
      to: { circular: true },
    },
    ...layerRules,
    ...topLevelRules,
    {
      name: "top-level-files-as-types-only",
      comment: "A folder of src/ sees the application's wiring (src/*.ts) as types only: a value import would run it.",
      severity: "error",
      from: { path: "^src/[^/]+/" },
      to: { path: TOP_LEVEL_FILE, dependencyTypesNot: ["type-only"] },
    },
    {
      name: "folders-import-only-the-listed-top-level-files",
      comment:
        "app.ts, server.ts and main.ts wire everything up: no folder of src/ imports them, not even as types (nor a new top-level file not in TOP_LEVEL_IMPORTED_BY).",
      severity: "error",
      from: { path: "^src/[^/]+/" },
      to: { path: TOP_LEVEL_FILE, pathNot: `^src/(${Object.keys(TOP_LEVEL_IMPORTED_BY).join("|").replaceAll(".", "\\.")})$` },
    },
    {
      name: "surfaces-do-not-import-each-other",
      comment: "GraphQL, pages and MCP call the services; a page does not reach into a resolver.",
      severity: "error",
      from: { path: "^src/(graphql|pages|mcp)/" },
      to: { path: "^src/(graphql|pages|mcp)/", pathNot: "$1" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/generated/" },
  },
};
