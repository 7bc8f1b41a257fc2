/**
 * The server's error catalogue: every refusal the API can give, with its HTTP status and OpenAI/vLLM error
 * type, and the one body shape clients parse: `{"error":{message,type,param,code}}` with `code` = the status.
 * Nothing else leaves the server as an error body (no stack traces).
 */

export type ErrorKind =
  | 'invalid_request'
  | 'context_overflow'
  | 'unauthorized'
  | 'not_found'
  | 'model_not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'queue_full'
  | 'not_ready'
  | 'shutting_down'
  | 'internal';

const CATALOGUE: Record<ErrorKind, { status: number; type: string }> = {
  invalid_request: { status: 400, type: 'BadRequestError' },
  context_overflow: { status: 400, type: 'BadRequestError' },
  unauthorized: { status: 401, type: 'AuthenticationError' },
  not_found: { status: 404, type: 'NotFoundError' },
  model_not_found: { status: 404, type: 'NotFoundError' },
  method_not_allowed: { status: 405, type: 'MethodNotAllowedError' },
  payload_too_large: { status: 413, type: 'PayloadTooLargeError' },
  unsupported_media_type: { status: 415, type: 'UnsupportedMediaTypeError' },
  queue_full: { status: 429, type: 'RateLimitError' },
  not_ready: { status: 503, type: 'ServiceUnavailableError' },
  shutting_down: { status: 503, type: 'ServiceUnavailableError' },
  internal: { status: 500, type: 'InternalServerError' },
};

/** The wire shape of an error. */
export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: number };
}

/** An error meant for the client: its message is safe to show. */
export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly param: string | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ApiError';
    ({ status: this.status, type: this.type } = CATALOGUE[kind]);
  }

  toBody(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.status } };
  }
}

/** 400 with a `param`. */
export const badRequest = (message: string, param: string | null = null): ApiError => new ApiError('invalid_request', message, param);

/** vLLM's context-overflow wording; clients pattern-match "maximum context length". */
export function contextOverflow(maxLen: number, promptTokens: number, maxTokens: number | null): ApiError {
  if (maxTokens === null) {
    return new ApiError(
      'context_overflow',
      `This model's maximum context length is ${maxLen} tokens. However, your request has ${promptTokens} input tokens. Please reduce the length of the input messages. (parameter=input_tokens, value=${promptTokens})`,
      'messages',
    );
  }
  return new ApiError(
    'context_overflow',
    `This model's maximum context length is ${maxLen} tokens. However, you requested ${maxTokens} output tokens and your prompt contains at least ${promptTokens} input tokens, for a total of at least ${promptTokens + maxTokens} tokens. Please reduce the length of the input prompt or the number of requested output tokens. (parameter=input_tokens, value=${promptTokens})`,
    'max_tokens',
  );
}

/** Anything thrown -> an ApiError; unknown errors become a generic 500 (the detail goes to the log only). */
export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  return new ApiError('internal', 'internal server error', null, { cause: e });
}
