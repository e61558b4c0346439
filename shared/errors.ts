// One error base for the platform. `code` is an enumerated protocol state that both
// sides switch on; `shortMessage` is what a person reads; `details` names the input.

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
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class IdlegradError extends Error {
  override readonly name = 'IdlegradError';
  readonly code: ErrorCode;
  readonly shortMessage: string;
  readonly details?: string;

  constructor(code: ErrorCode, shortMessage: string, opts: { details?: string; cause?: unknown } = {}) {
    super(opts.details ? `${shortMessage}\n\nDetails: ${opts.details}` : shortMessage, { cause: opts.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = opts.details;
  }
}

export function isIdlegradError(e: unknown, code?: ErrorCode): e is IdlegradError {
  return e instanceof IdlegradError && (code === undefined || e.code === code);
}
