// Used only by the Prisma CLI when writing a new migration (`npm run migration:new`).
// The JS schema engine needs an adapter that really connects: an in-memory
// PGlite (src/db/embedded.ts), so no server and no engine download is needed.
import { defineConfig } from "prisma/config";
import { PrismaPg } from "@prisma/adapter-pg";
import { startEmbeddedDatabase } from "./src/db/embedded.ts";

export default defineConfig({
  schema: "prisma/schema.prisma",
  experimental: { adapter: true },
  engine: "js",
  async adapter() {
    // unref: let the CLI exit once it has printed.
    const db = await startEmbeddedDatabase({ unref: true });
    return new PrismaPg({ ...db.connection, max: 1 });
  },
});
