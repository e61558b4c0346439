import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grantIce, iceSettingsFromEnv, keepIceFresh, turnCredential, type IceTimers } from './ice.ts';
import { parseServerMessage, type IceGrant } from '../shared/wire/index.ts';

const SECRET = 'north-wind-secret-0123';
const TURN_ENV = {
  IDLEGRAD_TURN_URLS: 'turn:turn.example:3478?transport=udp, turns:turn.example:5349',
  IDLEGRAD_TURN_SECRET: SECRET,
  IDLEGRAD_TURN_TTL: '600',
};

test("TURN credentials follow coturn's REST scheme: username expiry:id, credential base64(HMAC-SHA1(secret, username))", () => {
  // Pinned vector from `printf %s 1700003600:0xabc | openssl dgst -sha1 -hmac north-wind-secret-0123 -binary | base64`.
  assert.equal(turnCredential(SECRET, '1700003600:0xabc'), 'o2oCV198B9e49Wh38a9THhL9rBk=');
  const g = grantIce(iceSettingsFromEnv(TURN_ENV), '0xabc', 1_700_003_000_500);
  assert.equal(g.expiresAt, 1_700_003_600_000, 'ttl counted from the whole second');
  assert.deepEqual(g.servers, [
    { urls: ['turn:turn.example:3478?transport=udp', 'turns:turn.example:5349'], username: '1700003600:0xabc', credential: 'o2oCV198B9e49Wh38a9THhL9rBk=' },
  ]);
});

test('IDLEGRAD_ICE_SERVERS is RTCIceServer JSON; what is wrong is named by variable and keypath', () => {
  const stun = [{ urls: 'stun:stun.example:3478' }, { urls: ['turn:t.example'], username: 'u', credential: 'c' }];
  assert.deepEqual(iceSettingsFromEnv({ IDLEGRAD_ICE_SERVERS: JSON.stringify(stun) }), { servers: stun, turn: null });
  assert.deepEqual(iceSettingsFromEnv({}), { servers: [], turn: null }, 'default: no ICE servers');
  const bad = (v: unknown) => () => iceSettingsFromEnv({ IDLEGRAD_ICE_SERVERS: typeof v === 'string' ? v : JSON.stringify(v) });
  assert.throws(bad('[{urls:'), /^Error: IDLEGRAD_ICE_SERVERS is not valid JSON/);
  assert.throws(bad({ urls: 'stun:x' }), /IDLEGRAD_ICE_SERVERS: expected an array of at most 32 items/);
  assert.throws(
    bad([{ urls: 'stun:a' }, { urls: ['stun:b', 'http://c'] }]),
    /IDLEGRAD_ICE_SERVERS\[1\]\.urls\[1\]: expected a stun:, stuns:, turn: or turns: URL, got "http:\/\/c"/,
  );
  assert.throws(bad([{ url: 'stun:a' }]), /IDLEGRAD_ICE_SERVERS\[0\]\.url: expected a key among urls, username, credential/);
  assert.throws(bad([{ urls: [] }]), /IDLEGRAD_ICE_SERVERS\[0\]\.urls: expected at least one URL/);
  assert.throws(bad([{ urls: 'turn:t.example', username: 'u' }]), /IDLEGRAD_ICE_SERVERS\[0\]\.credential: expected a credential for a turn:\/turns: URL/);
});

test('TURN settings come as a pair, with turn: URLs, a long secret and a bounded TTL', () => {
  const t = iceSettingsFromEnv(TURN_ENV).turn!;
  assert.deepEqual(t.urls, ['turn:turn.example:3478?transport=udp', 'turns:turn.example:5349']);
  assert.equal(t.ttlS, 600);
  assert.equal(iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_TURN_TTL: undefined }).turn!.ttlS, 3600);
  assert.throws(() => iceSettingsFromEnv({ IDLEGRAD_TURN_URLS: 'turn:x' }), /IDLEGRAD_TURN_URLS is set without IDLEGRAD_TURN_SECRET/);
  assert.throws(() => iceSettingsFromEnv({ IDLEGRAD_TURN_SECRET: SECRET }), /IDLEGRAD_TURN_SECRET is set without IDLEGRAD_TURN_URLS/);
  assert.throws(() => iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_TURN_URLS: 'stun:x' }), /IDLEGRAD_TURN_URLS: expected turn: or turns: URLs, got "stun:x"/);
  assert.throws(() => iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_TURN_SECRET: 'short' }), /IDLEGRAD_TURN_SECRET: expected at least 16 characters/);
  assert.throws(() => iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_TURN_TTL: '30' }), /IDLEGRAD_TURN_TTL: expected whole seconds in \[60, 604800\], got "30"/);
  assert.throws(() => iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_TURN_TTL: '1h' }), /IDLEGRAD_TURN_TTL/);
});

/** Timers on a clock the test moves. */
function fakeTimers(start: number): IceTimers & { advance(ms: number): void; pending(): number } {
  let now = start;
  let queue: { at: number; fn: () => void; id: number }[] = [];
  let nextId = 0;
  return {
    now: () => now,
    setTimeout: (fn, ms) => (queue.push({ at: now + ms, fn, id: ++nextId }), nextId),
    clearTimeout: (id) => void (queue = queue.filter((t) => t.id !== id)),
    pending: () => queue.length,
    advance(ms) {
      const end = now + ms;
      for (;;) {
        queue.sort((a, b) => a.at - b.at);
        const t = queue[0];
        if (!t || t.at > end) break;
        queue.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
  };
}

test("a session's TURN grant is renewed at half its lifetime, each renewal valid past the next, until the session ends", () => {
  const settings = iceSettingsFromEnv({ ...TURN_ENV, IDLEGRAD_ICE_SERVERS: '[{"urls":"stun:stun.example"}]' });
  const clock = fakeTimers(1_700_000_000_000);
  const sent: { at: number; grant: IceGrant }[] = [];
  const s = keepIceFresh(settings, '0xabc', (grant) => sent.push({ at: clock.now(), grant }), clock);
  assert.equal(s.first.expiresAt, 1_700_000_600_000);
  assert.deepEqual(s.first.servers[0], { urls: 'stun:stun.example' }, 'static servers come first, unchanged');
  clock.advance(299_000);
  assert.equal(sent.length, 0);
  clock.advance(2_000);
  assert.equal(sent.length, 1, 'renewed at half the lifetime');
  clock.advance(3 * 600_000);
  assert.equal(sent.length, 7);
  let validUntil = s.first.expiresAt!;
  for (const { at, grant } of sent) {
    assert.ok(at < validUntil - 250_000, 'each renewal arrives well before the previous grant expires');
    assert.ok(grant.expiresAt! >= at + 599_000);
    const turn = grant.servers[1];
    assert.equal(turn.credential, turnCredential(SECRET, turn.username!));
    assert.equal(turn.username, `${grant.expiresAt! / 1000}:0xabc`);
    validUntil = grant.expiresAt!;
  }
  // What the page receives parses back to the same grant.
  const wire = parseServerMessage(JSON.parse(JSON.stringify({ type: 'ice', ice: sent[0].grant, serverTime: sent[0].at })));
  assert.deepEqual(wire, { type: 'ice', ice: sent[0].grant, serverTime: sent[0].at });
  s.stop();
  assert.equal(clock.pending(), 0, 'stop() cancels the next renewal');
  clock.advance(3_600_000);
  assert.equal(sent.length, 7);
});

test('without TURN nothing expires and no renewal is scheduled', () => {
  const clock = fakeTimers(0);
  const s = keepIceFresh(iceSettingsFromEnv({ IDLEGRAD_ICE_SERVERS: '[{"urls":"stun:s.example"}]' }), '0xabc', () => assert.fail('renewed'), clock);
  assert.deepEqual(s.first, { servers: [{ urls: 'stun:s.example' }], expiresAt: null });
  assert.equal(clock.pending(), 0);
});

test("a renewal parses at the page's edge; a bad grant is refused naming its keypath", () => {
  const ice = { servers: [{ urls: 'turn:t.example', username: '1:0xabc', credential: 'c' }], expiresAt: 1000 };
  assert.deepEqual(parseServerMessage({ type: 'ice', ice, serverTime: 5 }), { type: 'ice', ice, serverTime: 5 });
  assert.throws(
    () => parseServerMessage({ type: 'ice', ice: { servers: [{ urls: 'turn:t.example' }], expiresAt: 1 }, serverTime: 5 }),
    /ice\.ice\.servers\[0\]\.username/,
  );
  assert.throws(() => parseServerMessage({ type: 'ice', ice: { servers: [], expiresAt: -1 }, serverTime: 5 }), /ice\.ice\.expiresAt/);
});
