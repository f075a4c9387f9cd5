// loadConfig(): environment -> typed, checked configuration; a bad value is a
// ConfigError with one clear line (main.ts prints it and exits 1).
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

/** The ConfigError loadConfig throws for `env`. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe("loadConfig defaults", () => {
  it("with an empty environment: port 4000, embedded database in .data, demo seed on", () => {
    expect(loadConfig({})).toEqual({
      port: 4000,
      host: "0.0.0.0",
      issuer: "http://localhost:4000",
      database: { kind: "embedded", dataDir: ".data" },
      databasePool: { max: 10, statementTimeoutMs: 10_000, acquireTimeoutMs: 3_000 },
      seedDemo: true,
      logLevel: "info",
      secureCookies: false,
      trustProxy: [],
      abuseLimits: { signIn: { perAccount: 10, perAddress: 50, windowSeconds: 300 }, signUp: { perAddress: 10, windowSeconds: 3600 } },
      hotPathLimits: { tokenPerClient: 3000, graphqlPerToken: 150_000, graphqlPerSession: 60_000 },
      keyEncryption: {},
      signingKeys: { rotateAfterMs: 90 * 86_400_000, publishBeforeUseMs: 86_400_000 },
      webhooks: {
        allowLoopback: false,
        timeoutMs: 5_000,
        retryScheduleMs: [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000, 36_000_000],
        retentionMs: 30 * 86_400_000,
        pollIntervalMs: 1_000,
        concurrency: 16,
      },
      connectors: [],
      clientRegistration: { open: true, perAddress: 20, windowSeconds: 3600 },
      clientMetadataDocuments: { enabled: true, allowLoopback: false },
    });
  });

  it("treats empty values as unset", () => {
    expect(
      loadConfig({
        PORT: "",
        ISSUER: "",
        DATABASE_URL: "",
        DATA_DIR: "",
        SEED_DEMO: "",
        HOST: "",
        DATABASE_POOL_MAX: "",
        DATABASE_STATEMENT_TIMEOUT_MS: "",
        DATABASE_ACQUIRE_TIMEOUT_MS: "",
        METRICS_TOKEN: "",
        KEY_ENCRYPTION_SECRET: "",
        KEY_ENCRYPTION_SECRET_PREVIOUS: "",
        SIGNING_KEY_ROTATE_AFTER: "",
        SIGNING_KEY_PUBLISH_BEFORE_USE: "",
        CLIENT_REGISTRATION: "",
        CLIENT_REGISTRATION_MAX_PER_ADDRESS: "",
        CLIENT_REGISTRATION_WINDOW_SECONDS: "",
        CLIENT_ID_METADATA_DOCUMENTS: "",
        CIMD_ALLOW_LOOPBACK: "",
      }),
    ).toEqual(loadConfig({}));
  });

  it("reads the real process environment when given none", () => {
    const saved = process.env.PORT;
    process.env.PORT = "4711";
    try {
      expect(loadConfig().port).toBe(4711);
    } finally {
      if (saved === undefined) delete process.env.PORT;
      else process.env.PORT = saved;
    }
  });
});

describe("PORT", () => {
  it("is parsed as a number, and the default issuer follows it", () => {
    const c = loadConfig({ PORT: "8080" });
    expect(c.port).toBe(8080);
    expect(c.issuer).toBe("http://localhost:8080");
  });

  it("accepts 0 (any free port) and 65535", () => {
    expect(loadConfig({ PORT: "0" }).port).toBe(0);
    expect(loadConfig({ PORT: "65535" }).port).toBe(65535);
  });

  it.each(["abc", "-1", "65536", "80.5", " 80", "1e3", "0x50"])("refuses %j with a one-line message", (value) => {
    const err = configError({ PORT: value });
    expect(err.message).toBe(`PORT must be a number from 0 to 65535 (got "${value}")`);
  });
});

describe("ISSUER", () => {
  it("drops a trailing slash and keeps a path", () => {
    expect(loadConfig({ ISSUER: "http://auth.example.test/" }).issuer).toBe("http://auth.example.test");
    expect(loadConfig({ ISSUER: "http://example.test/scopegate/" }).issuer).toBe("http://example.test/scopegate");
  });

  it("an https issuer turns on Secure cookies; the port does not change it", () => {
    const c = loadConfig({ ISSUER: "https://auth.example.com", PORT: "8443" });
    expect(c.issuer).toBe("https://auth.example.com");
    expect(c.secureCookies).toBe(true);
    expect(c.port).toBe(8443);
  });

  it("an http issuer keeps cookies without Secure", () => {
    expect(loadConfig({ ISSUER: "http://127.0.0.1:4000" }).secureCookies).toBe(false);
  });

  it("refuses a value that is not a URL", () => {
    expect(configError({ ISSUER: "auth.example.com" }).message).toBe('ISSUER must be an absolute http(s) URL (got "auth.example.com")');
  });

  it.each(["ftp://auth.example.com", "https://auth.example.com/?x=1", "https://auth.example.com/#top", "https://user:pw@auth.example.com"])(
    "refuses %j",
    (value) => {
      expect(configError({ ISSUER: value }).message).toBe(
        `ISSUER must be an http(s) URL without query, fragment or credentials (got "${value}")`,
      );
    },
  );
});

const KEY_ENCRYPTION_SECRET = "0123456789abcdef0123456789abcdef";

describe("DATABASE_URL", () => {
  it("selects PostgreSQL and turns the demo seed off by default", () => {
    const url = "postgres://app:secret@db.internal:5432/scopegate";
    const c = loadConfig({ DATABASE_URL: url, KEY_ENCRYPTION_SECRET });
    expect(c.database).toEqual({ kind: "postgres", url });
    expect(c.seedDemo).toBe(false);
  });

  it("accepts postgresql:// too, and SEED_DEMO=true still seeds", () => {
    const c = loadConfig({ DATABASE_URL: "postgresql://app@localhost/scopegate", SEED_DEMO: "true", KEY_ENCRYPTION_SECRET });
    expect(c.database).toEqual({ kind: "postgres", url: "postgresql://app@localhost/scopegate" });
    expect(c.seedDemo).toBe(true);
  });

  it("ignores DATA_DIR when it is set", () => {
    expect(loadConfig({ DATABASE_URL: "postgres://localhost/x", DATA_DIR: "/srv/data", KEY_ENCRYPTION_SECRET }).database.kind).toBe(
      "postgres",
    );
  });

  it("requires KEY_ENCRYPTION_SECRET, naming it", () => {
    expect(configError({ DATABASE_URL: "postgres://localhost/x" }).message).toBe(
      "KEY_ENCRYPTION_SECRET must be set with DATABASE_URL: it encrypts the signing keys stored in the database (at least 32 characters; generate one with `openssl rand -base64 32`)",
    );
  });

  it("refuses a value that is not a URL", () => {
    expect(configError({ DATABASE_URL: "db.internal/scopegate" }).message).toBe(
      "DATABASE_URL is not a valid URL (expected postgres://user:password@host:5432/database)",
    );
  });

  it("refuses another scheme, without echoing the password", () => {
    const message = configError({ DATABASE_URL: "mysql://app:hunter22@db/scopegate" }).message;
    expect(message).toBe("DATABASE_URL must start with postgres:// or postgresql:// (got mysql://)");
    expect(message).not.toContain("hunter22");
  });

  it("refuses a URL without a host", () => {
    expect(configError({ DATABASE_URL: "postgres:///scopegate" }).message).toBe(
      "DATABASE_URL has no host (expected postgres://user:password@host:5432/database)",
    );
  });
});

describe("DATA_DIR, SEED_DEMO, LOG_LEVEL, HOST", () => {
  it("DATA_DIR moves the embedded database", () => {
    expect(loadConfig({ DATA_DIR: "/var/lib/scopegate" }).database).toEqual({ kind: "embedded", dataDir: "/var/lib/scopegate" });
  });

  it.each([
    ["false", false],
    ["0", false],
    ["no", false],
    ["OFF", false],
    ["true", true],
    ["1", true],
    ["Yes", true],
    ["on", true],
  ])("SEED_DEMO=%j is %s", (value, expected) => {
    expect(loadConfig({ SEED_DEMO: value }).seedDemo).toBe(expected);
  });

  it("refuses a SEED_DEMO that is not a boolean", () => {
    expect(configError({ SEED_DEMO: "maybe" }).message).toBe('SEED_DEMO must be true or false (got "maybe")');
  });

  it("WEBHOOKS_ALLOW_LOOPBACK is off unless set, and must be a boolean", () => {
    expect(loadConfig({}).webhooks.allowLoopback).toBe(false);
    expect(loadConfig({ WEBHOOKS_ALLOW_LOOPBACK: "" }).webhooks.allowLoopback).toBe(false);
    expect(loadConfig({ WEBHOOKS_ALLOW_LOOPBACK: "true" }).webhooks.allowLoopback).toBe(true);
    expect(loadConfig({ WEBHOOKS_ALLOW_LOOPBACK: "0" }).webhooks.allowLoopback).toBe(false);
    expect(configError({ WEBHOOKS_ALLOW_LOOPBACK: "sometimes" }).message).toBe(
      'WEBHOOKS_ALLOW_LOOPBACK must be true or false (got "sometimes")',
    );
  });

  it("the webhook delivery settings take durations, and a schedule is a list of them; the defaults retry for more than a day", () => {
    const defaults = loadConfig({}).webhooks;
    expect(defaults.retryScheduleMs.reduce((a, b) => a + b, 0)).toBeGreaterThan(86_400_000);
    const c = loadConfig({
      WEBHOOKS_TIMEOUT: "2s",
      WEBHOOKS_RETRY_SCHEDULE: "100ms, 200ms,1s",
      WEBHOOKS_RETENTION: "2s",
      WEBHOOKS_POLL_INTERVAL: "50ms",
      WEBHOOKS_CONCURRENCY: "4",
    }).webhooks;
    expect(c).toMatchObject({
      timeoutMs: 2_000,
      retryScheduleMs: [100, 200, 1_000],
      retentionMs: 2_000,
      pollIntervalMs: 50,
      concurrency: 4,
    });
    expect(configError({ WEBHOOKS_TIMEOUT: "5m" }).message).toBe(
      'WEBHOOKS_TIMEOUT must be a duration such as 90d, 12h, 30m or 45s from 100ms to 1m (got "5m")',
    );
    expect(configError({ WEBHOOKS_RETRY_SCHEDULE: "5s,soon" }).message).toMatch(
      /^WEBHOOKS_RETRY_SCHEDULE must be up to 50 comma-separated durations/,
    );
    expect(configError({ WEBHOOKS_RETRY_SCHEDULE: "5s,,5s" }).message).toMatch(/^WEBHOOKS_RETRY_SCHEDULE must be/);
    expect(configError({ WEBHOOKS_CONCURRENCY: "0" }).message).toMatch(/^WEBHOOKS_CONCURRENCY/);
  });

  it("LOG_LEVEL takes pino's levels", () => {
    expect(loadConfig({ LOG_LEVEL: "debug" }).logLevel).toBe("debug");
    expect(loadConfig({ LOG_LEVEL: "silent" }).logLevel).toBe("silent");
  });

  it("refuses an unknown LOG_LEVEL with a message naming the variable", () => {
    const message = configError({ LOG_LEVEL: "loud" }).message;
    expect(message).toMatch(/^LOG_LEVEL: /);
    expect(message).toContain("debug");
  });

  it("HOST sets the listening address", () => {
    expect(loadConfig({ HOST: "127.0.0.1" }).host).toBe("127.0.0.1");
  });
});

describe("DATABASE_POOL_MAX, DATABASE_STATEMENT_TIMEOUT_MS, DATABASE_ACQUIRE_TIMEOUT_MS", () => {
  it("are read as whole numbers", () => {
    expect(
      loadConfig({ DATABASE_POOL_MAX: "25", DATABASE_STATEMENT_TIMEOUT_MS: "1500", DATABASE_ACQUIRE_TIMEOUT_MS: "250" }).databasePool,
    ).toEqual({ max: 25, statementTimeoutMs: 1500, acquireTimeoutMs: 250 });
  });

  it("DATABASE_STATEMENT_TIMEOUT_MS=0 turns the statement limit off; the pool keeps its other defaults", () => {
    expect(loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: "0" }).databasePool).toEqual({
      max: 10,
      statementTimeoutMs: 0,
      acquireTimeoutMs: 3_000,
    });
  });

  it("accept their bounds", () => {
    expect(loadConfig({ DATABASE_POOL_MAX: "1" }).databasePool.max).toBe(1);
    expect(loadConfig({ DATABASE_POOL_MAX: "1000" }).databasePool.max).toBe(1000);
    expect(loadConfig({ DATABASE_ACQUIRE_TIMEOUT_MS: "1" }).databasePool.acquireTimeoutMs).toBe(1);
    expect(loadConfig({ DATABASE_ACQUIRE_TIMEOUT_MS: "600000" }).databasePool.acquireTimeoutMs).toBe(600_000);
    expect(loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: "2147483647" }).databasePool.statementTimeoutMs).toBe(2_147_483_647);
  });

  it.each(["0", "1001", "-1", "ten", "2.5", " 5", "1e2"])("refuses DATABASE_POOL_MAX=%j", (value) => {
    expect(configError({ DATABASE_POOL_MAX: value }).message).toBe(
      `DATABASE_POOL_MAX must be a whole number from 1 to 1000 (got "${value}")`,
    );
  });

  it.each(["-1", "2147483648", "1.5", "5s", "0x10"])("refuses DATABASE_STATEMENT_TIMEOUT_MS=%j", (value) => {
    expect(configError({ DATABASE_STATEMENT_TIMEOUT_MS: value }).message).toBe(
      `DATABASE_STATEMENT_TIMEOUT_MS must be a whole number of milliseconds from 0 to 2147483647 (got "${value}")`,
    );
  });

  it.each(["0", "600001", "-5", "3s"])("refuses DATABASE_ACQUIRE_TIMEOUT_MS=%j (0 would wait forever)", (value) => {
    expect(configError({ DATABASE_ACQUIRE_TIMEOUT_MS: value }).message).toBe(
      `DATABASE_ACQUIRE_TIMEOUT_MS must be a whole number of milliseconds from 1 to 600000 (got "${value}")`,
    );
  });
});

describe("METRICS_TOKEN", () => {
  it("is unset by default (then /metrics does not exist)", () => {
    expect(loadConfig({}).metricsToken).toBeUndefined();
  });

  it("takes a token of at least 16 URL-safe or base64 characters", () => {
    expect(loadConfig({ METRICS_TOKEN: "0123456789abcdef" }).metricsToken).toBe("0123456789abcdef");
    expect(loadConfig({ METRICS_TOKEN: "a-b.c_d~e+f/g0123456==" }).metricsToken).toBe("a-b.c_d~e+f/g0123456==");
  });

  it.each(["short", "has spaces in it, 16+ chars", 'quote"0123456789abcdef', "ünïcödé0123456789"])(
    "refuses %j without echoing it",
    (value) => {
      const message = configError({ METRICS_TOKEN: value }).message;
      expect(message).toBe(`METRICS_TOKEN must be at least 16 characters of A-Z a-z 0-9 - . _ ~ + / (got ${value.length} characters)`);
      expect(message).not.toContain(value);
    },
  );
});

describe("KEY_ENCRYPTION_SECRET, KEY_ENCRYPTION_SECRET_PREVIOUS", () => {
  it("are optional for the embedded database and read as given", () => {
    expect(loadConfig({}).keyEncryption).toEqual({});
    const previous = "fedcba9876543210fedcba9876543210-old";
    expect(loadConfig({ KEY_ENCRYPTION_SECRET, KEY_ENCRYPTION_SECRET_PREVIOUS: previous }).keyEncryption).toEqual({
      secret: KEY_ENCRYPTION_SECRET,
      previousSecret: previous,
    });
  });

  it.each(["KEY_ENCRYPTION_SECRET", "KEY_ENCRYPTION_SECRET_PREVIOUS"])(
    "%s: refuses fewer than 32 characters, without echoing it",
    (name) => {
      const value = "s3cr3t-but-short-0123456789abcd"; // 31
      const message = configError({ [name]: value }).message;
      expect(message).toBe(`${name} must be at least 32 characters (got 31); generate one with \`openssl rand -base64 32\``);
      expect(message).not.toContain(value);
    },
  );
});

describe("SIGNING_KEY_ROTATE_AFTER, SIGNING_KEY_PUBLISH_BEFORE_USE", () => {
  it("read durations in days, hours, minutes or seconds; rotation can be turned off", () => {
    expect(loadConfig({ SIGNING_KEY_ROTATE_AFTER: "30d", SIGNING_KEY_PUBLISH_BEFORE_USE: "2h" }).signingKeys).toEqual({
      rotateAfterMs: 30 * 86_400_000,
      publishBeforeUseMs: 7_200_000,
    });
    expect(loadConfig({ SIGNING_KEY_ROTATE_AFTER: "90m", SIGNING_KEY_PUBLISH_BEFORE_USE: "600s" }).signingKeys).toEqual({
      rotateAfterMs: 5_400_000,
      publishBeforeUseMs: 600_000,
    });
    expect(loadConfig({ SIGNING_KEY_ROTATE_AFTER: "off" }).signingKeys.rotateAfterMs).toBeNull();
  });

  it.each([
    ["SIGNING_KEY_ROTATE_AFTER", "59m"],
    ["SIGNING_KEY_ROTATE_AFTER", "ninety days"],
    ["SIGNING_KEY_ROTATE_AFTER", "3651d"],
    ["SIGNING_KEY_PUBLISH_BEFORE_USE", "4m"],
    ["SIGNING_KEY_PUBLISH_BEFORE_USE", "31d"],
    ["SIGNING_KEY_PUBLISH_BEFORE_USE", "off"],
  ])("%s=%s is refused, naming the variable and the value", (name, value) => {
    const message = configError({ [name]: value }).message;
    expect(message).toMatch(new RegExp(`^${name} must be a duration`));
    expect(message).toContain(`(got "${value}")`);
  });
});

describe("TOKEN_RATE_LIMIT_PER_CLIENT, GRAPHQL_RATE_LIMIT_PER_TOKEN, GRAPHQL_RATE_LIMIT_PER_SESSION", () => {
  it("are requests (token endpoint) and cost units (GraphQL) per minute; 0 turns a limit off", () => {
    expect(
      loadConfig({ TOKEN_RATE_LIMIT_PER_CLIENT: "0", GRAPHQL_RATE_LIMIT_PER_TOKEN: "60", GRAPHQL_RATE_LIMIT_PER_SESSION: "1000000000" })
        .hotPathLimits,
    ).toEqual({ tokenPerClient: 0, graphqlPerToken: 60, graphqlPerSession: 1_000_000_000 });
  });

  it.each([
    ["TOKEN_RATE_LIMIT_PER_CLIENT", "-1", "requests"],
    ["GRAPHQL_RATE_LIMIT_PER_TOKEN", "1.5", "cost units"],
    ["GRAPHQL_RATE_LIMIT_PER_SESSION", "1000000001", "cost units"],
    ["GRAPHQL_RATE_LIMIT_PER_SESSION", "lots", "cost units"],
  ])("%s=%s is refused, naming the variable, the unit and the value", (name, value, unit) => {
    const message = configError({ [name]: value }).message;
    expect(message).toBe(`${name} must be a whole number of ${unit} per minute from 0 to 1000000000 (got "${value}")`);
  });
});

describe("CLIENT_REGISTRATION, CLIENT_REGISTRATION_MAX_PER_ADDRESS, CLIENT_REGISTRATION_WINDOW_SECONDS", () => {
  it("self-registration is open by default and can be switched off; its limit per address is read as whole numbers", () => {
    expect(loadConfig({ CLIENT_REGISTRATION: "off" }).clientRegistration.open).toBe(false);
    expect(loadConfig({ CLIENT_REGISTRATION: "OPEN" }).clientRegistration.open).toBe(true);
    expect(
      loadConfig({ CLIENT_REGISTRATION_MAX_PER_ADDRESS: "3", CLIENT_REGISTRATION_WINDOW_SECONDS: "604800" }).clientRegistration,
    ).toEqual({ open: true, perAddress: 3, windowSeconds: 604_800 });
  });

  it.each([
    ["CLIENT_REGISTRATION", "closed", 'CLIENT_REGISTRATION must be open or off (got "closed")'],
    ["CLIENT_REGISTRATION", "true", 'CLIENT_REGISTRATION must be open or off (got "true")'],
    ["CLIENT_REGISTRATION_MAX_PER_ADDRESS", "0", 'CLIENT_REGISTRATION_MAX_PER_ADDRESS must be a whole number from 1 to 1000000 (got "0")'],
    [
      "CLIENT_REGISTRATION_WINDOW_SECONDS",
      "604801",
      'CLIENT_REGISTRATION_WINDOW_SECONDS must be a whole number of seconds from 1 to 604800 (got "604801")',
    ],
  ])("%s=%s is refused, naming the variable and the value", (name, value, expected) => {
    expect(configError({ [name]: value }).message).toBe(expected);
  });
});

describe("CLIENT_ID_METADATA_DOCUMENTS, CIMD_ALLOW_LOOPBACK", () => {
  it("metadata documents are on by default, from public addresses only; each can be switched", () => {
    expect(loadConfig({ CLIENT_ID_METADATA_DOCUMENTS: "off" }).clientMetadataDocuments).toEqual({ enabled: false, allowLoopback: false });
    expect(loadConfig({ CLIENT_ID_METADATA_DOCUMENTS: "ON", CIMD_ALLOW_LOOPBACK: "true" }).clientMetadataDocuments).toEqual({
      enabled: true,
      allowLoopback: true,
    });
    expect(loadConfig({ CIMD_ALLOW_LOOPBACK: "false" }).clientMetadataDocuments.allowLoopback).toBe(false);
  });

  it.each([
    ["CLIENT_ID_METADATA_DOCUMENTS", "true", 'CLIENT_ID_METADATA_DOCUMENTS must be on or off (got "true")'],
    ["CLIENT_ID_METADATA_DOCUMENTS", "open", 'CLIENT_ID_METADATA_DOCUMENTS must be on or off (got "open")'],
    ["CIMD_ALLOW_LOOPBACK", "sometimes", 'CIMD_ALLOW_LOOPBACK must be true or false (got "sometimes")'],
  ])("%s=%s is refused, naming the variable and the value", (name, value, expected) => {
    expect(configError({ [name]: value }).message).toBe(expected);
  });
});

describe("every ConfigError is one line", () => {
  it.each<Record<string, string>>([
    { PORT: "x" },
    { ISSUER: "nope" },
    { ISSUER: "ftp://x" },
    { DATABASE_URL: "nope" },
    { DATABASE_URL: "mysql://x/y" },
    { DATABASE_URL: "postgres:///y" },
    { SEED_DEMO: "perhaps" },
    { LOG_LEVEL: "loud" },
    { DATABASE_POOL_MAX: "0" },
    { DATABASE_STATEMENT_TIMEOUT_MS: "x" },
    { DATABASE_ACQUIRE_TIMEOUT_MS: "0" },
    { METRICS_TOKEN: "short" },
    { KEY_ENCRYPTION_SECRET: "short" },
    { KEY_ENCRYPTION_SECRET_PREVIOUS: "short" },
    { SIGNING_KEY_ROTATE_AFTER: "1s" },
    { SIGNING_KEY_PUBLISH_BEFORE_USE: "x" },
    { CLIENT_REGISTRATION: "maybe" },
    { CLIENT_REGISTRATION_MAX_PER_ADDRESS: "x" },
  ])("%j", (env) => {
    const message = configError(env).message;
    expect(message.length).toBeGreaterThan(10);
    expect(message).not.toContain("\n");
    expect(message).toContain(Object.keys(env)[0]!);
  });
});

// The values test/integration/lifecycle.test.ts once gave a real process each.
// main.ts prints any ConfigError as "scopegate: <message>" and exits 1, which
// one process test there still proves; the rules themselves are proven here.
describe("the configuration errors a start-up reports", () => {
  it.each<{ env: Record<string, string>; message: RegExp }>([
    { env: { DATABASE_URL: "mysql://x" }, message: /^DATABASE_URL must start with postgres:\/\// },
    { env: { DATABASE_URL: "not a url" }, message: /^DATABASE_URL is not a valid URL/ },
    { env: { DATABASE_URL: "postgres://" }, message: /^DATABASE_URL has no host/ },
    { env: { ISSUER: "ftp://x" }, message: /^ISSUER must be an http\(s\) URL/ },
    { env: { ISSUER: "nonsense" }, message: /^ISSUER must be an absolute http\(s\) URL/ },
    { env: { ISSUER: "https://example.com/?x=1" }, message: /^ISSUER must be an http\(s\) URL without query/ },
    { env: { PORT: "abc" }, message: /^PORT must be a number/ },
    { env: { PORT: "70000" }, message: /^PORT must be a number/ },
    { env: { PORT: "-1" }, message: /^PORT must be a number/ },
    { env: { SEED_DEMO: "maybe" }, message: /^SEED_DEMO must be true or false/ },
    { env: { LOG_LEVEL: "loud" }, message: /^LOG_LEVEL/ },
  ])("$env is refused in one line", ({ env, message }) => {
    // with the variables a test start also sets, as the process test did
    const text = configError({ DATA_DIR: "/tmp/scopegate-unused", PORT: "0", ...env }).message;
    expect(text).toMatch(message);
    expect(text.split("\n")).toHaveLength(1);
    expect(text).not.toMatch(/\bat .*\.(ts|js):\d+/); // no stack trace
  });
});
