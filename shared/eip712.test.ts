import { test } from 'node:test';
import assert from 'node:assert/strict';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { hashTypedData, recoverTypedDataAddress, zeroHash } from 'viem';
import { contributionTypedData, delegationTypedData, eip712Domain, type Contribution, type Delegation } from './eip712.ts';
import { contributionFromJson, contributionToJson, delegationFromJson, delegationToJson, parseClientMessage } from './wire/messages.ts';
import { isIdlegradError } from './errors.ts';
import { newEd25519Signer } from './session-key.ts';

const account = privateKeyToAccount(generatePrivateKey());
// keccak of the EIP-712 Delegation digest for the fixed vector below (viem hashTypedData).
const DELEGATION_VECTOR = '0x3df860cc7f7aa105d4a24b860266d07fd297df646306d3519706edd711c3eb03';
const domain = eip712Domain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
const c: Contribution = {
  run: 1,
  round: 4,
  cohort: 0,
  frameHash: `0x${'aa'.repeat(32)}`,
  aggregateHash: `0x${'bb'.repeat(32)}`,
  framesRoot: zeroHash,
  residualHash: `0x${'cc'.repeat(32)}`,
  samples: 640,
  steps: 20,
  lossBeforeMicro: 2_300_000,
  lossAfterMicro: 1_100_000,
  computeMs: 9000,
  nonce: 12345678901234n,
  expiry: 2_000_000_000n,
  partner: '',
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
  // Protocol 6: a report is signed by the session key (shared/session-key.ts), a 64-byte Ed25519 signature.
  const signature = await (await newEd25519Signer()).sign(new Uint8Array(32));
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
  for (const b of bad)
    assert.throws(
      () => parseClientMessage(b),
      (e) => isIdlegradError(e, 'BAD_MESSAGE') && e.shortMessage.length > 10,
      JSON.stringify(b),
    );
});

test('a delegation signed by the wallet recovers to it only in its own domain; the bind message is validated at the edge', async () => {
  const wallet = privateKeyToAccount(generatePrivateKey());
  const d: Delegation = { wallet: wallet.address, device: account.address, nonce: 1n, expiry: 2_000_000_000n };
  const signature = await wallet.signTypedData(delegationTypedData(domain, d));
  assert.equal(await recoverTypedDataAddress({ ...delegationTypedData(domain, d), signature }), wallet.address);
  assert.notEqual(await recoverTypedDataAddress({ ...delegationTypedData(eip712Domain(1, domain.verifyingContract), d), signature }), wallet.address);
  assert.notEqual(await recoverTypedDataAddress({ ...delegationTypedData(domain, { ...d, device: wallet.address }), signature }), wallet.address);
  // The typed-data hash is pinned: a change to the struct is a protocol change.
  assert.equal(
    hashTypedData(
      delegationTypedData(eip712Domain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3'), {
        wallet: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
        device: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
        nonce: 7n,
        expiry: 1_900_000_000n,
      }),
    ),
    DELEGATION_VECTOR,
  );
  const msg = parseClientMessage(JSON.parse(JSON.stringify({ type: 'bind', delegation: delegationToJson(d), signature })));
  assert.ok(msg.type === 'bind');
  assert.deepEqual(delegationFromJson(msg.delegation), { ...d, wallet: d.wallet.toLowerCase(), device: d.device.toLowerCase() });
  assert.throws(
    () => parseClientMessage({ type: 'bind', delegation: { ...delegationToJson(d), nonce: '-1' }, signature }),
    (e) => isIdlegradError(e, 'BAD_MESSAGE') && /bind\.delegation\.nonce/.test(e.message),
  );
});
