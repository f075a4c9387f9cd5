import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The real server as a child process: `node --import tsx src/main.ts` with the
 * environment given (on top of PATH and HOME only, so that nothing of the test
 * runner's own environment leaks in). stdout is a pipe, so logs are JSON lines.
 */
export class ServerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private out = "";
  private err = "";
  private waiters: (() => void)[] = [];

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.setEncoding("utf8").on("data", (s: string) => {
      this.out += s;
      this.notify();
    });
    this.child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      this.err += s;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        resolve({ code, signal });
        this.notify();
      });
    });
  }

  private notify() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when `re` matches what the stream has printed so far; rejects on exit or timeout. */
  waitFor(stream: "stdout" | "stderr", re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${re} on ${stream}\n--- stdout\n${this.out}\n--- stderr\n${this.err}`));
      }, timeoutMs);
      const check = () => {
        const m = (stream === "stdout" ? this.out : this.err).match(re);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        } else if (!this.running) {
          clearTimeout(timer);
          reject(
            new Error(
              `server exited (${this.child.exitCode ?? this.child.signalCode}) before ${re} on ${stream}\n--- stdout\n${this.out}\n--- stderr\n${this.err}`,
            ),
          );
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  /** Waits for the start-up banner's URLs on stderr (the server is listening by then). */
  async ready(timeoutMs = 60_000): Promise<void> {
    await this.waitFor("stderr", /scopegate is running at [^\n]*\n(?:[^\n]*\n)*?\s+discovery\s+\S+\n/, timeoutMs);
  }

  /** Sends a signal and waits for the exit (SIGKILL after timeoutMs). */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 20_000): Promise<Exit> {
    if (this.running) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every stdout line parsed as JSON (throws, naming the line, if one is not). */
  logLines(): Record<string, unknown>[] {
    return this.out
      .split("\n")
      .filter((l) => l.length > 0)
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`stdout line is not JSON: ${l}`);
        }
      });
  }
}

/** Runs the server until it exits by itself (a start-up failure); kills it after timeoutMs. */
export async function runUntilExit(env: Record<string, string>, timeoutMs = 60_000): Promise<Exit & { stdout: string; stderr: string }> {
  const p = new ServerProcess(env);
  const timer = setTimeout(() => p.child.kill("SIGKILL"), timeoutMs);
  try {
    const exit = await p.exited;
    return { ...exit, stdout: p.stdout, stderr: p.stderr };
  } finally {
    clearTimeout(timer);
  }
}
