// The one error shape of the HTTP API: {"error": {"code", "message", "path"}}.
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly path: string = "",
  ) {
    super(message);
  }
}

export interface ErrorBody {
  error: { code: string; message: string; path: string };
}

export function errorBody(code: string, message: string, path = ""): ErrorBody {
  return { error: { code, message, path } };
}
