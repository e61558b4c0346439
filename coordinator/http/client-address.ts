// The client's address behind a reverse proxy (Caddy in compose.yaml): X-Forwarded-For is read
// only when the direct peer is a trusted proxy (IDLEGRAD_TRUSTED_PROXIES), and then the client
// is the right-most hop that is not itself trusted, so a header a client wrote itself moves
// nothing (each proxy appends the address it saw to the right). Every per-address limit
// (coordinator/http/surface-limits.ts) and log line takes its address from here, for HTTP
// requests (express's req.ip, through the same test) and the WebSocket upgrade alike.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** Addresses and subnets whose X-Forwarded-For is believed. Build with trustedProxiesOf. */
export interface TrustedProxies {
  /** The settings as given (for logs and the banner). */
  readonly entries: readonly string[];
  trusts(address: string): boolean;
}

/** `::ffff:10.0.0.1` → `10.0.0.1`: Node reports IPv4 peers of a dual-stack socket in the mapped form. */
const unmapped = (a: string) => (/^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(a) ? a.slice(7) : a);

/**
 * Parses addresses and CIDR subnets (`172.28.0.10, 10.0.0.0/8, fd00::/8`: comma-separated, or
 * a list); `name` is the setting, named in the error of a bad entry. Empty: trust no one.
 */
export function trustedProxiesOf(list: string | readonly string[] | undefined, name = 'IDLEGRAD_TRUSTED_PROXIES'): TrustedProxies {
  const blocks = new BlockList();
  const entries = (typeof list === 'string' ? list.split(',') : (list ?? [])).map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const family = isIP(unmapped(address));
    const prefix = bits === undefined ? undefined : Number(bits);
    const max = family === 4 ? 32 : 128;
    if (family === 0 || extra !== undefined || (prefix !== undefined && (!/^\d+$/.test(bits) || prefix > max)))
      throw new Error(`${name}: ${JSON.stringify(entry)} is not an IP address or CIDR subnet (e.g. 172.28.0.10, 10.0.0.0/8, fd00::/8)`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) blocks.addAddress(unmapped(address), type);
    else blocks.addSubnet(unmapped(address), prefix, type);
  }
  return {
    entries,
    trusts(a) {
      const address = unmapped(a);
      const family = isIP(address);
      return family !== 0 && blocks.check(address, family === 4 ? 'ipv4' : 'ipv6');
    },
  };
}

export const NO_TRUSTED_PROXIES = trustedProxiesOf(undefined);

/**
 * The client of a connection from `peer` that carried `forwardedFor` (the X-Forwarded-For
 * header, possibly repeated): `peer` itself unless it is trusted; otherwise the right-most hop
 * that is not trusted (or the left-most, when every hop is). A hop that is not an address ends
 * the walk at the last address before it.
 */
export function clientAddressOf(peer: string, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  let client = unmapped(peer);
  if (!trusted.trusts(client) || forwardedFor === undefined) return client;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor).split(',').map((h) => unmapped(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    if (isIP(hops[i]) === 0) break;
    client = hops[i];
    if (!trusted.trusts(client)) break;
  }
  return client;
}

/** The client address of an HTTP request or WebSocket upgrade. */
export const clientAddress = (req: IncomingMessage, trusted: TrustedProxies): string =>
  clientAddressOf(req.socket.remoteAddress ?? 'unknown', req.headers['x-forwarded-for'], trusted);

/** The X-Forwarded-For to send upstream when relaying `req` (coordinator/cluster.ts): its own, then the peer it came from. */
export function forwardedFor(req: IncomingMessage): string {
  const prior = req.headers['x-forwarded-for'];
  return [...(Array.isArray(prior) ? prior : prior ? [prior] : []), unmapped(req.socket.remoteAddress ?? 'unknown')].join(', ');
}
