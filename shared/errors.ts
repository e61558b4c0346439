// One error base for the whole platform (viem's BaseError is the model): every error we throw
// carries `code`, an enumerated state that callers switch on; `shortMessage`, what a person
// reads; `details`, what a developer needs (the input, the limits, compiler output); and the
// `cause` it wraps. Subclasses fix the code's union: IdlegradError (protocol and wire), the
// KernelError family (kernels/errors.ts), ChainError (shared/chain/errors.ts). Identity is by
// class or by code, never by `name` (minified bundles and worker boundaries change names).

export interface ErrorOptions {
  details?: string;
  cause?: unknown;
}

export abstract class BaseError<Code extends string = string> extends Error {
  override name = 'BaseError';
  readonly code: Code;
  /** One line, safe to show to a user. `message` adds the details. */
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(code: Code, shortMessage: string, opts: ErrorOptions = {}) {
    super(opts.details ? `${shortMessage}\n\nDetails: ${opts.details}` : shortMessage, { cause: opts.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = opts.details;
  }
}

/**
 * A BaseError as plain data, for boundaries that clone rather than keep classes (comlink
 * between the page and its worker keeps only an Error's name and message).
 */
export interface SerializedError {
  name: string;
  code: string | null;
  shortMessage: string;
  details: string | null;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof BaseError) return { name: e.name, code: e.code, shortMessage: e.shortMessage, details: e.details ?? null };
  if (e instanceof Error) return { name: e.name, code: null, shortMessage: e.message, details: null };
  return { name: 'Error', code: null, shortMessage: String(e), details: null };
}

export function isSerializedError(v: unknown): v is SerializedError {
  const o = v as Partial<SerializedError> | null;
  return (
    typeof o === 'object' && o !== null && typeof o.name === 'string' && typeof o.shortMessage === 'string' && (o.code === null || typeof o.code === 'string')
  );
}

export const ERROR_CODES = [
  'BAD_MESSAGE',
  'BAD_FRAME',
  'SCHEMA_MISMATCH',
  'LIMIT_EXCEEDED',
  'BAD_SIGNATURE',
  'REPLAYED_NONCE',
  'EXPIRED',
  'STALE_ROUND',
  'WRONG_RUN',
  'WRONG_DOMAIN',
  'NOT_A_MEMBER',
  'DUPLICATE',
  'NOT_FOUND',
  'PEER_TIMEOUT',
  'CHAIN_ERROR',
  'INTERNAL',
  // The lead routes (coordinator/lead.ts): no or another token, a run not in a state to act, a body over its limit.
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONFLICT',
  'TOO_LARGE',
  // /rpc (coordinator/rpc-guard.ts): a method or transaction the coordinator does not forward to the chain.
  'RPC_REFUSED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const isErrorCode = (v: unknown): v is ErrorCode => typeof v === 'string' && (ERROR_CODES as readonly string[]).includes(v);

/** A protocol or wire fault: what the coordinator answers with, and what a parser throws. */
export class IdlegradError extends BaseError<ErrorCode> {
  override name = 'IdlegradError';
}

export function isIdlegradError(e: unknown, code?: ErrorCode): e is IdlegradError {
  return e instanceof IdlegradError && (code === undefined || e.code === code);
}
