import pino, { type Logger } from "pino";

export type { Logger };

/** Fields that hold a secret whatever object they are in: redacted at the top level and one level down. */
const SECRET_FIELDS = [
  "password",
  "current_password",
  "new_password",
  "confirm_password",
  "currentPassword",
  "newPassword",
  "secret",
  "client_secret",
  "clientSecret",
  "token",
  "access_token",
  "accessToken",
  "refresh_token",
  "refreshToken",
  "id_token",
  "code_verifier",
  "csrf",
  "csrfToken",
  "authorizationCode",
];

/**
 * Where an authorization code can appear: among a request's parameters, query
 * or body. Only there: a field called `code` elsewhere is usually an error
 * code (`err.code`: PostgreSQL's "57014", Node's "ECONNREFUSED"), which an
 * operator needs.
 */
const CODE_CONTAINERS = ["params", "query", "body", "form"];

/** Headers that carry credentials (a redirect's Location may carry a code). */
const SECRET_HEADERS = ["authorization", "cookie", '["set-cookie"]', '["x-csrf-token"]', "location"];

const header = (prefix: string, h: string) => (h.startsWith("[") ? `${prefix}${h}` : `${prefix}.${h}`);

export const REDACT_PATHS = [
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
  ...CODE_CONTAINERS.flatMap((c) => [`${c}.code`, `*.${c}.code`]),
  ...SECRET_HEADERS.flatMap((h) => ["headers", "*.headers"].map((p) => header(p, h))),
];

/**
 * JSON lines on stdout; pretty when stdout is a terminal. Anything that could
 * carry a secret is redacted even if a caller logs it by mistake (REDACT_PATHS).
 * `destination` is for tests.
 */
export function createLogger(level: string, pretty = Boolean(process.stdout.isTTY), destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    ...(pretty && !destination
      ? { transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
