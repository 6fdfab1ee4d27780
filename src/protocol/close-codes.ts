// WebSocket close codes the server sends. Shared by server and browser client; browser-safe.

/**
 * Close codes used by system-stream. 4000–4999 mirror HTTP statuses.
 * The client gives up on `BadRequest`, `Unauthorized` and `Forbidden`, and reconnects after the rest.
 * @public
 */
export const CloseCode = {
  /** The server is shutting down (`stream.close()`). Reconnect later. */
  GoingAway: 1001,
  /** The client sent a data frame: clients only listen. */
  BadRequest: 4400,
  /** The credentials were refused, or the API key the connection was opened with was removed. Not retried. */
  Unauthorized: 4401,
  /** The client may not use this stream. Not retried. */
  Forbidden: 4403,
  /**
   * The connection's credentials expired (a token's `exp`, or the `expiresAt` of an `authenticate()`
   * grant): renew them and reconnect at once. Like IIS's HTTP 440 "Login Time-out". Retried: a
   * `StreamManager` whose `apiKey` is a function asks it for a new credential and reconnects without waiting.
   */
  CredentialsExpired: 4440,
  /** The client did not read fast enough: its send buffer stayed over `maxBufferedBytes` past `slowClientTimeoutMs`. */
  SlowConsumer: 4429,
  /** An unexpected server error. */
  InternalError: 4500,
} as const;

/**
 * One of the `CloseCode` values.
 * @public
 */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Whether a client should stop reconnecting after the server closed with `code`.
 * @public
 */
export function isTerminalCloseCode(code: number): boolean {
  return code === CloseCode.BadRequest || code === CloseCode.Unauthorized || code === CloseCode.Forbidden;
}
