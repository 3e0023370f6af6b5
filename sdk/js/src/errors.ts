// Typed errors: the server's error codes (docs/protocol.md, "Errors") plus the SDK's own
// local conditions. Every failure the SDK reports is a ParleyError.

/** Codes the server sends. */
export type ServerErrorCode =
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'invalid'
  | 'too_large'
  | 'conflict'
  | 'rate_limited'
  | 'internal';

/** Local codes: `offline` (no connection for a call), `timeout` (no reply in time),
 *  `network` (an HTTP request could not be made), `storage` (the local store failed). */
export type LocalErrorCode = 'offline' | 'timeout' | 'network' | 'storage';

export type ErrorCode = ServerErrorCode | LocalErrorCode;

const SERVER_CODES: ReadonlySet<string> = new Set([
  'unauthenticated', 'forbidden', 'not_found', 'invalid', 'too_large', 'conflict',
  'rate_limited', 'internal',
]);

export class ParleyError extends Error {
  override readonly name = 'ParleyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** For `invalid` and some `forbidden`: the offending field. */
    readonly field?: string,
    /** For `rate_limited`: how long to wait before trying again. */
    readonly retryAfterMs?: number,
  ) {
    super(`${code}: ${message}`);
  }

  /** Whether retrying the same request later may succeed (rate limits, server failures,
   *  lost connections). Everything else will fail again. */
  get transient(): boolean {
    return this.code === 'rate_limited' || this.code === 'internal' || this.code === 'offline' ||
      this.code === 'timeout' || this.code === 'network';
  }

  /** Builds an error from the protocol's error object; unknown codes become `internal`. */
  static fromWire(e: unknown): ParleyError {
    if (typeof e !== 'object' || e === null) return new ParleyError('internal', 'a malformed error reply');
    const o = e as Record<string, unknown>;
    const code = typeof o.code === 'string' && SERVER_CODES.has(o.code) ? (o.code as ServerErrorCode) : 'internal';
    const message = typeof o.message === 'string' ? o.message : String(o.code ?? 'error');
    const field = typeof o.field === 'string' ? o.field : undefined;
    const retry = typeof o.retry_after_ms === 'number' ? o.retry_after_ms : undefined;
    return new ParleyError(code, message, field, retry);
  }
}
