// The one error shape of the HTTP API: {"error": {"code", "message", "path"}}.
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly path: string = "",
    /** more detail beside the error, e.g. every diagnostic of an invalid strategy */
    readonly details?: Record<string, unknown>,
    /** seconds, sent as Retry-After */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; path: string; [detail: string]: unknown };
}

export function errorBody(
  code: string,
  message: string,
  path = "",
  details: Record<string, unknown> = {},
): ErrorBody {
  return { error: { code, message, path, ...details } };
}
