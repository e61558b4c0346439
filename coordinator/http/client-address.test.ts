import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { clientAddressOf, forwardedFor, NO_TRUSTED_PROXIES, trustedProxiesOf } from './client-address.ts';

test('X-Forwarded-For from a peer that is not a trusted proxy changes nothing', () => {
  assert.equal(clientAddressOf('203.0.113.5', '198.51.100.1', NO_TRUSTED_PROXIES), '203.0.113.5');
  const caddy = trustedProxiesOf('172.28.0.10');
  assert.equal(clientAddressOf('203.0.113.5', '198.51.100.1', caddy), '203.0.113.5', 'a client that writes the header itself');
  assert.equal(clientAddressOf('::ffff:203.0.113.5', undefined, caddy), '203.0.113.5', 'the IPv4-mapped form is the same address');
});

test('through trusted proxies the client is the right-most hop that is not trusted', () => {
  const t = trustedProxiesOf('172.28.0.10, 10.0.0.0/8, fd00::/8');
  assert.equal(clientAddressOf('::ffff:172.28.0.10', '198.51.100.1', t), '198.51.100.1');
  assert.equal(clientAddressOf('172.28.0.10', '198.51.100.2', t), '198.51.100.2', 'two clients behind one proxy stay two addresses');
  // A client that forged a left-most hop: the proxy appended the address it saw to the right.
  assert.equal(clientAddressOf('172.28.0.10', '1.2.3.4, 198.51.100.1', t), '198.51.100.1');
  // Two trusted proxies in a row (a load balancer, then Caddy), headers repeated.
  assert.equal(clientAddressOf('172.28.0.10', ['1.2.3.4, 198.51.100.1', '10.1.2.3'], t), '198.51.100.1');
  assert.equal(clientAddressOf('fd00::1', '2001:db8::7', t), '2001:db8::7');
  assert.equal(clientAddressOf('172.28.0.10', '10.0.0.5', t), '10.0.0.5', 'every hop trusted: the left-most');
  assert.equal(clientAddressOf('172.28.0.10', 'garbage, 10.0.0.6', t), '10.0.0.6', 'a hop that is no address ends the walk');
  assert.equal(clientAddressOf('172.28.0.10', undefined, t), '172.28.0.10', 'no header: the proxy itself');
  assert.equal(clientAddressOf('172.28.0.11', '198.51.100.1', t), '172.28.0.11', 'a neighbour of the proxy is not trusted');
});

test('IDLEGRAD_TRUSTED_PROXIES: addresses and CIDR subnets; a bad entry is named', () => {
  assert.deepEqual(trustedProxiesOf(' 127.0.0.1 , ::1 ,').entries, ['127.0.0.1', '::1']);
  assert.deepEqual(trustedProxiesOf(['10.0.0.0/8']).entries, ['10.0.0.0/8']);
  assert.equal(trustedProxiesOf('').trusts('127.0.0.1'), false, 'none by default, loopback included');
  assert.equal(trustedProxiesOf('10.0.0.0/8').trusts('::ffff:10.200.0.1'), true);
  for (const bad of ['caddy', '10.0.0.0/33', '10.0.0.0/8/1', 'fd00::/129', '10.0.0.0/x'])
    assert.throws(() => trustedProxiesOf(bad), new RegExp(`IDLEGRAD_TRUSTED_PROXIES: "${bad.replace(/[/.]/g, '\\$&')}" is not an IP address or CIDR subnet`));
});

test('a relay (a cluster follower) appends the peer it heard from to X-Forwarded-For', () => {
  const req = (peer: string, xff?: string) =>
    ({ socket: { remoteAddress: peer }, headers: xff ? { 'x-forwarded-for': xff } : {} }) as unknown as IncomingMessage;
  assert.equal(forwardedFor(req('::ffff:198.51.100.1')), '198.51.100.1');
  assert.equal(forwardedFor(req('172.28.0.10', '198.51.100.1')), '198.51.100.1, 172.28.0.10');
  // The leader, trusting the follower and Caddy, finds the volunteer.
  assert.equal(clientAddressOf('10.0.0.2', forwardedFor(req('172.28.0.10', '198.51.100.1')), trustedProxiesOf('172.28.0.10, 10.0.0.2')), '198.51.100.1');
});
