// Structured logs: one JSON object per line on stdout (pino), with a level, a time, the
// component that wrote it and its message. Secrets never reach a line: fields named like one
// (leadToken, deployerKey, databaseUrl, authorization …) are censored by pino at any depth it
// is told, and the secret values themselves (the lead token, the owner key, a database URL's
// password, the TURN secret), registered once known, are scrubbed from every message and field
// string, so a secret interpolated into free text or an error's message is caught too.
// IDLEGRAD_LOG_FORMAT=pretty (the default on a terminal) writes the same records as text.
import { format } from 'node:util';
import pino from 'pino';
import type { DestinationStream, Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = 'json' | 'pretty';
export type { Logger } from 'pino';

export const REDACTED = '[redacted]';
const SECRET_KEYS = ['leadToken', 'deployerKey', 'privateKey', 'databaseUrl', 'password', 'secret', 'turnSecret', 'authorization', 'cookie'];
/** pino's censored paths: each secret key at the top and two levels down, and request headers. */
const REDACT_PATHS = [...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), 'req.headers.authorization', 'headers.authorization'];
/** A URL's password: scheme://user:PASSWORD@host. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^:@/\s]*):[^@/\s]+@/gi;

/** The secret values to scrub from strings; add each as soon as it is known. */
export class Redactor {
  private readonly secrets = new Set<string>();
  /** Values shorter than 8 characters are refused: scrubbing them would mangle ordinary text. */
  add(secret: string | undefined | null): void {
    if (secret && secret.length >= 8) this.secrets.add(secret);
  }
  scrub(text: string): string {
    let out = text.replace(URL_PASSWORD, `$1:${REDACTED}@`);
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  }
  /** Strings anywhere in a log argument (an Error becomes { type, message, stack }). */
  scrubValue(v: unknown, depth = 0): unknown {
    if (typeof v === 'string') return this.scrub(v);
    if (v instanceof Error) return { type: v.name, message: this.scrub(v.message), stack: v.stack && this.scrub(v.stack) };
    if (depth > 6 || v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
    if (Array.isArray(v)) return v.map((x) => this.scrubValue(x, depth + 1));
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.scrubValue(x, depth + 1)]));
  }
}

export interface LoggerOptions {
  level: LogLevel;
  format?: LogFormat;
  redactor?: Redactor;
  /** Where lines go (tests pass a collecting stream). Default stdout. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const redactor = opts.redactor ?? new Redactor();
  const destination = opts.destination ?? (opts.format === 'pretty' ? prettyStream(process.stdout) : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
      hooks: {
        logMethod(args, method) {
          const scrubbed = args.map((a) => redactor.scrubValue(a));
          // logger.error(err): the error under `err`, its message as the line's message.
          if (args[0] instanceof Error) scrubbed.splice(0, 1, { err: scrubbed[0] }, ...(args.length > 1 ? [] : [(scrubbed[0] as { message: string }).message]));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
    },
    destination,
  );
}

/** `component: message` or `[component] message`, the coordinator's line convention, split. */
export function splitComponent(line: string): { component?: string; msg: string } {
  const m = /^\[([\w-]+)\]\s*(.*)$/s.exec(line) ?? /^([a-z][\w-]*): (.*)$/s.exec(line);
  return m ? { component: m[1], msg: m[2] } : { msg: line };
}

/** A `log(line)` callback (platform, validator, epoch poster …) writing records at `level`. */
export function lineLogger(logger: Logger, level: 'info' | 'warn' | 'error' = 'info'): (line: string) => void {
  // The message stays the whole line (so `grep 'cluster: leading'` finds it in either format); the component is a field too.
  return (line) => {
    const { component } = splitComponent(line);
    logger[level](component ? { component } : {}, line);
  };
}

/**
 * console.* of this process (the coordinator's remaining calls and its libraries': peer, pg …)
 * as records, so stdout stays one JSON object per line. Returns the restore function.
 */
export function captureConsole(logger: Logger): () => void {
  const saved = { log: console.log, info: console.info, warn: console.warn, error: console.error, debug: console.debug };
  const to =
    (level: 'info' | 'warn' | 'error' | 'debug') =>
    (...args: unknown[]) => {
      const err = args.find((a): a is Error => a instanceof Error);
      const line = format(...args.filter((a) => a !== err));
      const { component } = splitComponent(line);
      logger[level]({ ...(component ? { component } : {}), ...(err ? { err } : {}) }, line || (err?.message ?? ''));
    };
  console.log = to('info');
  console.info = to('info');
  console.warn = to('warn');
  console.error = to('error');
  console.debug = to('debug');
  return () => Object.assign(console, saved);
}

/** The records as text for a terminal: `12:00:01 INFO  validator: contribution 3 verified`. */
function prettyStream(out: NodeJS.WriteStream): DestinationStream {
  return {
    write(line: string) {
      try {
        const { time, level, component, msg, err, pid: _pid, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
        const stack = err && typeof err === 'object' && 'stack' in err ? `\n${String((err as { stack: string }).stack)}` : '';
        const text = String(msg ?? '');
        const named = !component || text.startsWith(`${String(component)}: `) || text.startsWith(`[${String(component)}]`);
        out.write(`${String(time).slice(11, 19)} ${String(level).toUpperCase().padEnd(5)} ${named ? '' : `${String(component)}: `}${text}${extra}${stack}\n`);
      } catch {
        out.write(line);
      }
    },
  };
}
