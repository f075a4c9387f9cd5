// npm run keys:rotate: adds new signing keys that sign from now on. The old
// keys stay in the JWKS until every token they signed has expired. Running
// instances pick the new keys up within a minute.
import { ConfigError, loadConfig } from "../src/config.ts";
import { openDatabase } from "../src/db/index.ts";
import { keyEncryptionFor } from "../src/db/key-encryption-secret.ts";
import { rotateSigningKeys } from "../src/oauth/keys.ts";

try {
  const config = loadConfig();
  const db = await openDatabase(config.database);
  try {
    const kids = await rotateSigningKeys(db.prisma, keyEncryptionFor(config.keyEncryption, db));
    console.log(`new signing keys: ${kids.join(", ")}`);
  } finally {
    await db.close();
  }
} catch (err) {
  console.error(`keys:rotate: ${err instanceof ConfigError ? err.message : (err as Error).message}`);
  process.exit(1);
}
