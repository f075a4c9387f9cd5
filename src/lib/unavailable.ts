/**
 * The server cannot answer this request safely right now (a dependency is
 * saturated or cannot be confirmed current). Answered as 503 with Retry-After,
 * in each surface's own error form; never as a 500.
 */
export class UnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds = 1,
  ) {
    super(message);
    this.name = "UnavailableError";
  }
}
