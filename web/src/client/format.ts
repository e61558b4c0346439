// Display helpers: numbers a person reads, through Intl in the browser's language (`locale`
// undefined) unless a locale is given. Units are in the names.
import { formatUnits, type Hex } from 'viem';

/** Token amount from base units (`decimals`, as the token's contract says; 18 by default), trimmed to `maxFraction` digits without rounding up. */
export function formatWei(wei: string | bigint | null | undefined, maxFraction = 4, decimals = 18, locale?: string): string {
  const nf = new Intl.NumberFormat(locale);
  if (wei === null || wei === undefined || wei === '') return nf.format(0);
  const text = formatUnits(BigInt(wei), decimals);
  const [whole, fraction = ''] = text.split('.');
  const cut = fraction.slice(0, maxFraction).replace(/0+$/, '');
  // Exact digits (no float): the whole part grouped by Intl, the fraction joined with its separator.
  const grouped = nf.format(BigInt(whole));
  const point = nf.formatToParts(1.5).find((p) => p.type === 'decimal')?.value ?? '.';
  // A nonzero amount below the shown precision must not read as zero.
  if (cut === '' && whole === '0' && /[1-9]/.test(fraction)) return `<${nf.format(0)}${point}${'0'.repeat(maxFraction - 1)}1`;
  return cut ? `${grouped}${point}${cut}` : grouped;
}

/** A count (samples, parameters, limits), grouped in the reader's language. */
export function formatCount(n: number, locale?: string): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(n);
}

/** 0x1234…cdef */
export function shortHash(hex: Hex | string | null | undefined, head = 6, tail = 4): string {
  if (!hex) return '—';
  return hex.length <= head + tail + 2 ? hex : `${hex.slice(0, head + 2)}…${hex.slice(-tail)}`;
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) ((v /= 1024), u++);
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatNumber(x: number | null | undefined, digits = 1, locale?: string): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return new Intl.NumberFormat(locale, { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(x);
}

/** A time of day with seconds (the event log). */
export function formatTime(epochMs: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(epochMs);
}

/** A date and time (consent expiry, epoch posting). */
export function formatDateTime(epochMs: number, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' }).format(epochMs);
}
