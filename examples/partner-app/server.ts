// npm run example:partner
//
//   CLIENT_ID=sgc_... CLIENT_SECRET=sgs_... npm run example:partner
//
// Environment: CLIENT_ID, CLIENT_SECRET (required: the demo client that
// `npm start` prints on its first run), SCOPEGATE_ISSUER (default
// http://localhost:4000), PORT (default 3000), HOST (default 127.0.0.1),
// REDIRECT_URI (default http://localhost:<PORT>/callback), SCOPE (default
// "openid offline_access profile:read data:read data:write"; leave out the data
// scopes your client is not registered for).

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startPartnerApp } from "./app.ts";

export { startPartnerApp, type PartnerApp, type PartnerAppOptions } from "./app.ts";

async function main() {
  const clientId = process.env.CLIENT_ID;
  const clientSecret = process.env.CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    console.error(
      "partner-app: set CLIENT_ID and CLIENT_SECRET (the demo client that `npm start` prints on its first run).\n" +
        "  CLIENT_ID=sgc_... CLIENT_SECRET=sgs_... npm run example:partner",
    );
    process.exit(1);
  }
  const port = Number(process.env.PORT || 3000);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    console.error(`partner-app: PORT must be a number from 1 to 65535 (got "${process.env.PORT}")`);
    process.exit(1);
  }
  let app: Awaited<ReturnType<typeof startPartnerApp>>;
  try {
    app = await startPartnerApp({
      issuer: process.env.SCOPEGATE_ISSUER || "http://localhost:4000",
      clientId,
      clientSecret,
      port,
      host: process.env.HOST || undefined,
      redirectUri: process.env.REDIRECT_URI || undefined,
      scope: process.env.SCOPE || undefined,
    });
  } catch (err) {
    console.error(`partner-app: ${(err as Error).message}`);
    process.exit(1);
  }
  console.log(`Example partner app: open ${app.url} (scopegate at ${process.env.SCOPEGATE_ISSUER || "http://localhost:4000"})`);
  const stop = () => void app.close().finally(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

// Run only when started as a program (npm run example:partner), not when a test imports it.
if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  void main();
}
