/** Error codes raised by onelip (native and TypeScript layers). */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_DEVICE'
  | 'ERR_ARGUMENT'
  | 'ERR_DISPOSED'
  | 'ERR_UNSUPPORTED'
  | 'ERR_UNKNOWN_OP'
  | 'ERR_CUDA'
  | 'ERR_OUT_OF_MEMORY'
  | 'ERR_INTERNAL'
  | 'ERR_ADDON_LOAD'
  | 'ERR_CHECKPOINT'
  | 'ERR_GRADCHECK'
  | 'ERR_DATASET';

/**
 * The one error type of onelip. `code` says what kind of failure it is; the message names the op or
 * function, the argument, and what was expected.
 */
export class OnelipError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode | string, message: string) {
    super(message);
    this.name = 'OnelipError';
    this.code = code as ErrorCode;
  }
}

/** Throws OnelipError(code, message) unless `cond` holds. */
export function check(cond: unknown, code: ErrorCode, message: string | (() => string)): asserts cond {
  if (!cond) throw new OnelipError(code, typeof message === 'string' ? message : message());
}
