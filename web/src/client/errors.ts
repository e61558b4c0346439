// Turning any thrown value into one line a person can read, without losing the code.
import { BaseError as ViemBaseError } from 'viem';
import { BaseError, ERROR_CODES, IdlegradError, type ErrorCode } from '../../../shared/errors.ts';

const withDetails = (short: string, details: string | undefined) => (details && !short.includes(details) ? `${short} (${details})` : short);

/** "[CODE] shortMessage (details)" for our errors (shared/errors.ts BaseError); viem's shortMessage; else the message's first line. */
export function describeError(e: unknown): string {
  if (e instanceof BaseError) return `[${e.code}] ${withDetails(e.shortMessage, e.details)}`;
  if (e instanceof ViemBaseError) return withDetails(e.shortMessage, e.details);
  if (e instanceof Error) return e.message.split('\n')[0];
  return String(e);
}

export function asErrorCode(code: unknown): ErrorCode {
  return typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'INTERNAL';
}

/** An HTTP error response as an IdlegradError: the coordinator answers 4xx/5xx with {error: {code, message}}. */
export async function httpError(what: string, res: Response): Promise<IdlegradError> {
  let code: ErrorCode = res.status === 404 ? 'NOT_FOUND' : 'INTERNAL';
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
    if (body?.error) {
      code = asErrorCode(body.error.code);
      if (typeof body.error.message === 'string') message = body.error.message;
    }
  } catch {
    // Not JSON: the status line is all there is, and it is already in `message`.
  }
  return new IdlegradError(code, `${what} failed: ${message}`, { details: `HTTP ${res.status}` });
}
