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
  ["webhooks"], // the webhook outbox (written in the transaction of each change), endpoints, signing and delivery
  ["consent"], // scopes, grants, connected apps
  ["clients"], // client registration and administration
  ["accounts"], // users, sign-in sessions, passwords, export, deletion
  ["oauth", "connectors"], // the protocols: our authorization server; scopegate as OAuth client of other providers
  ["auth"], // request -> viewer
  ["metrics"],
  ["graphql", "pages", "mcp", "seed"], // the surfaces
];

const folders = (names) => `^src/(${names.join("|")})/`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer.join("-")}-imports-down`,
  comment: `src/${layer.join(", src/")} may import only layers below it (.dependency-cruiser.cjs LAYERS).`,
  severity: "error",
  from: { path: folders(layer) },
  to: { path: `${folders(LAYERS.slice(i + 1).flat())}|^src/[^/]+\\.ts$` },
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
    ...layerRules.map((rule) =>
      // The protocol and request layers see the application's wiring (AppDeps, AppEnv, Config) as types.
      rule.from.path.match(/oauth|connectors|auth|metrics/)
        ? { ...rule, to: { ...rule.to, path: folders(LAYERS.slice(LAYERS.findIndex((l) => rule.from.path === folders(l)) + 1).flat()) } }
        : rule,
    ),
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
