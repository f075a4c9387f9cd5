import pino, { type Logger } from "pino";

export type { Logger };

/**
 * JSON lines on stdout; pretty when stdout is a terminal. Anything that could
 * carry a secret is redacted even if a caller logs it by mistake.
 */
export function createLogger(level: string, pretty = Boolean(process.stdout.isTTY)): Logger {
  return pino({
    level,
    redact: {
      paths: [
        "password",
        "*.password",
        "secret",
        "*.secret",
        "client_secret",
        "*.client_secret",
        "req.headers.authorization",
        "req.headers.cookie",
        'res.headers["set-cookie"]',
        "token",
        "*.token",
        "refresh_token",
        "*.refresh_token",
        "code",
        "*.code",
      ],
      censor: "[redacted]",
    },
    ...(pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } } }
      : {}),
  });
}
