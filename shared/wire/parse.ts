// Parsers for untrusted JSON at the edge, each naming the keypath it refuses:
// `report.contribution.nonce: expected a uint64 decimal string, got "1e3"`. A parser takes
// (value, path) and returns the typed value or throws IdlegradError('BAD_MESSAGE'). Objects
// come back as new objects holding only the declared fields, so nothing undeclared (and no
// prototype key) passes through.
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../errors.ts';

export type Parser<T> = (v: unknown, path: string) => T;

/** How a refused value is shown: at most 2 levels deep, 3 items per level, 120 characters in all, so a
 *  deeply nested or huge value is named in a line (never stringified whole: that overflowed the stack). */
export function showValue(v: unknown, depth = 0): string {
  let out: string;
  if (typeof v === 'string') out = v.length > 40 ? `${v.slice(0, 40)}…` : JSON.stringify(v);
  else if (v === null || typeof v !== 'object') out = JSON.stringify(v) ?? String(v);
  else if (depth >= 2) out = Array.isArray(v) ? '[…]' : '{…}';
  else if (Array.isArray(v))
    out = `[${v
      .slice(0, 3)
      .map((x) => showValue(x, depth + 1))
      .join(',')}${v.length > 3 ? ',…' : ''}]`;
  else {
    const keys = Object.keys(v);
    out = `{${keys
      .slice(0, 3)
      .map((k) => `${JSON.stringify(k.slice(0, 40))}:${showValue((v as Record<string, unknown>)[k], depth + 1)}`)
      .join(',')}${keys.length > 3 ? ',…' : ''}}`;
  }
  return out.length > 120 ? `${out.slice(0, 120)}…` : out;
}

export function fail(path: string, expected: string, got: unknown): never {
  throw new IdlegradError('BAD_MESSAGE', `${path}: expected ${expected}, got ${showValue(got)}`);
}

export const obj: Parser<Record<string, unknown>> = (v, path) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : fail(path, 'an object', v);
export const str =
  (max = 256): Parser<string> =>
  (v, path) =>
    typeof v === 'string' && v.length <= max ? v : fail(path, `a string of at most ${max} chars`, v);
export const u32: Parser<number> = (v, path) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : fail(path, 'a uint32', v));
/** A finite number (JSON has no NaN or Infinity). */
export const num: Parser<number> = (v, path) => (typeof v === 'number' && Number.isFinite(v) ? v : fail(path, 'a finite number', v));
export const nonNegative: Parser<number> = (v, path) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(path, 'a non-negative number', v));
export const bool: Parser<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'a boolean', v));
/** 0x and exactly `bytes` bytes of hex digits, either case. */
const hexOf = (bytes: number) => new RegExp(`^0x[0-9a-fA-F]{${2 * bytes}}$`);
const HEX32 = hexOf(32);
const SIG = hexOf(65);
const ED_SIG = hexOf(64);
const ADDRESS = hexOf(20);
export const hex32: Parser<Hex> = (v, path) => (typeof v === 'string' && HEX32.test(v) ? (v.toLowerCase() as Hex) : fail(path, 'a 32-byte hex string', v));
export const sig: Parser<Hex> = (v, path) => (typeof v === 'string' && SIG.test(v) ? (v as Hex) : fail(path, 'a 65-byte hex signature', v));
/** An Ed25519 signature (a session key's, shared/session-key.ts): 64 bytes of hex, returned lower-case. */
export const edSig: Parser<Hex> = (v, path) =>
  typeof v === 'string' && ED_SIG.test(v) ? (v.toLowerCase() as Hex) : fail(path, 'a 64-byte hex Ed25519 signature', v);
/** Any letter case (checksums are not checked), returned lower-case. */
export const addr: Parser<Address> = (v, path) => (typeof v === 'string' && ADDRESS.test(v) ? (v.toLowerCase() as Address) : fail(path, 'an address', v));
export const decimal: Parser<string> = (v, path) =>
  typeof v === 'string' && /^[0-9]{1,20}$/.test(v) && BigInt(v) < 2n ** 64n ? v : fail(path, 'a uint64 decimal string', v);
/** A token amount in wei: a decimal string up to uint256. */
export const wei: Parser<string> = (v, path) =>
  typeof v === 'string' && /^[0-9]{1,78}$/.test(v) && BigInt(v) < 2n ** 256n ? v : fail(path, 'a decimal wei string', v);

export const oneOf =
  <T extends string>(values: readonly T[]): Parser<T> =>
  (v, path) =>
    values.includes(v as T) ? (v as T) : fail(path, `one of ${values.join(', ')}`, v);
/** null or absent → null. */
export const nullable =
  <T>(p: Parser<T>): Parser<T | null> =>
  (v, path) =>
    v === null || v === undefined ? null : p(v, path);
/** absent → undefined (the field is left out); present must parse. */
export const optional =
  <T>(p: Parser<T>): Parser<T | undefined> =>
  (v, path) =>
    v === undefined ? undefined : p(v, path);

export const arrayOf =
  <T>(p: Parser<T>, max = 100_000): Parser<T[]> =>
  (v, path) => {
    if (!Array.isArray(v) || v.length > max) fail(path, `an array of at most ${max} items`, v);
    return (v as unknown[]).map((x, i) => p(x, `${path}[${i}]`));
  };

/** An object whose keys are among `keys` (each value parsed by `p`); `complete` requires every key. */
export function recordOf<K extends string, T>(keys: readonly K[], p: Parser<T>, complete: true): Parser<Record<K, T>>;
export function recordOf<K extends string, T>(keys: readonly K[], p: Parser<T>, complete?: false): Parser<Partial<Record<K, T>>>;
export function recordOf<K extends string, T>(keys: readonly K[], p: Parser<T>, complete = false): Parser<Partial<Record<K, T>>> {
  return (v, path) => {
    const o = obj(v, path);
    const out: Partial<Record<K, T>> = {};
    for (const k of Object.keys(o)) if (!keys.includes(k as K)) fail(`${path}.${k}`, `a key among ${keys.join(', ')}`, k);
    for (const k of keys) {
      if (Object.hasOwn(o, k)) out[k] = p(o[k], `${path}.${k}`);
      else if (complete) fail(`${path}.${k}`, 'a value', undefined);
    }
    return out;
  };
}

/** Parsers for every field of T, optional fields included (they parse `undefined`). */
export type Fields<T> = { [K in keyof T]-?: Parser<T[K]> };

/** An object with the declared fields only; a field whose parser gives undefined is left out. */
export const shape =
  <T>(fields: Fields<T>): Parser<T> =>
  (v, path) => {
    const o = obj(v, path);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(fields) as (keyof T & string)[]) {
      const x = fields[k](Object.hasOwn(o, k) ? o[k] : undefined, `${path}.${k}`);
      if (x !== undefined) out[k] = x;
    }
    return out as T;
  };

/** JSON text to a value, refused as BAD_MESSAGE (naming `what`) when it is not JSON. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new IdlegradError('BAD_MESSAGE', `${what} is not valid JSON`);
  }
}
