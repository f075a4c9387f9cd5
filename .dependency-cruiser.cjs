/**
 * Imports point down (DESIGN.md "Layout"): no two folders of src/ import each
 * other, and the layers import only what is below them. `npm run lint:deps`.
 */
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
      name: "lib-is-the-bottom",
      comment: "src/lib holds small shared helpers and imports nothing else of ours.",
      severity: "error",
      from: { path: "^src/lib/" },
      to: { path: "^src/", pathNot: "^src/lib/" },
    },
    {
      name: "db-below-services",
      comment: "The database layer knows no service, protocol or surface.",
      severity: "error",
      from: { path: "^src/db/" },
      to: { path: "^src/(oauth|clients|consent|accounts|auth|graphql|pages|mcp|audit|webhooks|connectors|metrics)/" },
    },
    {
      name: "services-below-surfaces",
      comment: "Services and the protocol never import the surfaces (pages, graphql, app).",
      severity: "error",
      from: { path: "^src/(oauth|clients|consent|accounts|auth|db|lib|audit)/" },
      to: { path: "^src/(pages|graphql|mcp)/|^src/app\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "^src/generated/" },
  },
};
