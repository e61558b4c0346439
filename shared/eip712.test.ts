import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { recoverTypedDataAddress, zeroHash } from 'viem';
import { contributionTypedData, eip712Domain, type Contribution } from './eip712.ts';
import { contributionFromJson, contributionToJson, parseClientMessage } from './protocol.ts';
import { isIdlegradError } from './errors.ts';

const account = privateKeyToAccount(generatePrivateKey());
const domain = eip712Domain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
const c: Contribution = {
  run: 1, round: 4, cohort: 0, frameHash: `0x${'aa'.repeat(32)}`, aggregateHash: `0x${'bb'.repeat(32)}`, framesRoot: zeroHash,
  samples: 640, steps: 20, lossBeforeMicro: 2_300_000, lossAfterMicro: 1_100_000, computeMs: 9000, nonce: 12345678901234n, expiry: 2_000_000_000n,
};

test('a contribution signed by the device key recovers to it, and only in its own domain', async () => {
  const signature = await account.signTypedData(contributionTypedData(domain, c));
  assert.equal(await recoverTypedDataAddress({ ...contributionTypedData(domain, c), signature }), account.address);
  const otherChain = eip712Domain(1, domain.verifyingContract);
  assert.notEqual(await recoverTypedDataAddress({ ...contributionTypedData(otherChain, c), signature }), account.address);
  const tampered = { ...c, samples: c.samples + 1 };
  assert.notEqual(await recoverTypedDataAddress({ ...contributionTypedData(domain, tampered), signature }), account.address);
});

test('report messages survive JSON and are validated at the edge', async () => {
  const signature = await account.signTypedData(contributionTypedData(domain, c));
  const wire = JSON.parse(JSON.stringify({ type: 'report', contribution: contributionToJson(c), signature, frameHashes: [c.frameHash] }));
  const parsed = parseClientMessage(wire);
  assert.equal(parsed.type, 'report');
  if (parsed.type === 'report') assert.deepEqual(contributionFromJson(parsed.contribution), c);
  const bad = [
    { ...wire, type: 'nope' },
    { ...wire, signature: '0x12' },
    { ...wire, contribution: { ...wire.contribution, samples: -1 } },
    { ...wire, contribution: { ...wire.contribution, nonce: '1e9' } },
    { ...wire, contribution: { ...wire.contribution, frameHash: '0xzz' } },
    { ...wire, frameHashes: 'x' },
    null,
    [],
  ];
  for (const b of bad) assert.throws(() => parseClientMessage(b), (e) => isIdlegradError(e, 'BAD_MESSAGE') && e.shortMessage.length > 10, JSON.stringify(b));
});
