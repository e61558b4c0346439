// PeerServer's liveness allowance (server.ts peerAliveTimeoutMs): a whole round of the run, never
// below the `peer` package's own 90 s, so a page whose main thread is busy for a while (its JSON
// heartbeat late) keeps its signalling socket (issue 18).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PEER_ALIVE_TIMEOUT_MS, peerAliveTimeoutMs } from './server.ts';
import { DEFAULT_RUN, PRESET_DEFAULTS } from '../../shared/config.ts';

test("PeerServer's alive timeout is a whole round of the run, at least the package's 90 s", () => {
  // The gpt-small swarm's timing (e2e/swarm.ts): 300 + 30 + 20 s.
  assert.equal(peerAliveTimeoutMs({ timing: { trainMs: 300_000, exchangeMs: 30_000, reportMs: 20_000 } }), 350_000);
  // gpt-small's own defaults: 180 + 30 + 15 s.
  assert.equal(peerAliveTimeoutMs(PRESET_DEFAULTS['gpt-small']), 225_000);
  // The MLP's 33 s round: the package's default stands.
  assert.equal(peerAliveTimeoutMs(DEFAULT_RUN), PEER_ALIVE_TIMEOUT_MS);
});
