// Display helpers: numbers a person reads. Units are in the names.
import { formatUnits, type Hex } from 'viem';

/** Token amount from base units (`decimals`, as the token's contract says; 18 by default), trimmed to `maxFraction` digits without rounding up. */
export function formatWei(wei: string | bigint | null | undefined, maxFraction = 4, decimals = 18): string {
  if (wei === null || wei === undefined || wei === '') return '0';
  const text = formatUnits(BigInt(wei), decimals);
  const [whole, fraction = ''] = text.split('.');
  const cut = fraction.slice(0, maxFraction).replace(/0+$/, '');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  // A nonzero amount below the shown precision must not read as zero.
  if (cut === '' && whole === '0' && /[1-9]/.test(fraction)) return `<0.${'0'.repeat(maxFraction - 1)}1`;
  return cut ? `${grouped}.${cut}` : grouped;
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

export function formatNumber(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function formatTime(epochMs: number): string {
  const d = new Date(epochMs);
  return d.toLocaleTimeString('en-GB', { hour12: false });
}
