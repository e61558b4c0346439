// Turning any thrown value into one line a person can read, without losing the code.
import { BaseError, IdlegradError } from '../../../shared/errors.ts';
import { parseErrorReply, type ErrorReply } from '../../../shared/wire/index.ts';

const withDetails = (short: string, details: string | undefined) => (details && !short.includes(details) ? `${short} (${details})` : short);

/**
 * "[CODE] shortMessage (details)" for our errors (shared/errors.ts BaseError); viem's errors have the
 * same two fields, read as such (importing viem's class here would put viem in every page's first chunk);
 * else the message's first line.
 */
export function describeError(e: unknown): string {
  if (e instanceof BaseError) return `[${e.code}] ${withDetails(e.shortMessage, e.details)}`;
  const viem = e as { shortMessage?: unknown; details?: unknown };
  if (e instanceof Error && typeof viem.shortMessage === 'string')
    return withDetails(viem.shortMessage, typeof viem.details === 'string' ? viem.details : undefined);
  if (e instanceof Error) return e.message.split('\n')[0];
  return String(e);
}

/** An HTTP error response as an IdlegradError: the coordinator answers 4xx/5xx with {error: {code, message}} (shared/wire ErrorReply). */
export async function httpError(what: string, res: Response): Promise<IdlegradError> {
  const status = `${res.status} ${res.statusText}`.trim();
  let body: ErrorReply | null = null;
  let unparsed: string | undefined;
  try {
    body = parseErrorReply(await res.json(), 'error reply');
  } catch (e) {
    // Not JSON, or not our error shape (a proxy's page): the status line is all there is.
    unparsed = e instanceof IdlegradError ? e.shortMessage : 'the body is not JSON';
  }
  const code = body?.error.code ?? (res.status === 404 ? 'NOT_FOUND' : 'INTERNAL');
  return new IdlegradError(code, `${what} failed: ${body?.error.message ?? status}`, {
    details: unparsed ? `HTTP ${res.status}; ${unparsed}` : `HTTP ${res.status}`,
  });
}
