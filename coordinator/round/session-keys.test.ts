// Session keys (shared/session-key.ts): the certificate a hello presents and each report's
// Ed25519 signature, checked as the coordinator checks them, with the attacks the design has
// to stop: another run, an expired or week-plus certificate, a certificate signed by someone
// else or naming someone else, a key the page does not hold, a key certified for two accounts,
// a report signed by another key or under another certificate or domain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { hexToBytes, type Address, type Hex } from 'viem';
import { eip712Domain, sessionCertificateTypedData, type Contribution } from '../../shared/eip712.ts';
import { isIdlegradError, type ErrorCode } from '../../shared/errors.ts';
import {
  certificateDigest,
  certificateFromJson,
  contributionSigningBytes,
  newEd25519Signer,
  sessionProofMessage,
  SessionKeyHolder,
  verifyEd25519,
  type SessionGrant,
} from '../../shared/session-key.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { ContributionSigners, RecoveryThread } from './report-signature.ts';
import { certifySession, type CertifiedKey } from './session-keys.ts';

const domain = eip712Domain(31337, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
const RUN = 3;
const NOW = 1_800_000_000;

const contribution = (nonce: bigint): Contribution => ({
  run: RUN,
  round: 7,
  cohort: 2,
  frameHash: `0x${'11'.repeat(32)}`,
  aggregateHash: `0x${'22'.repeat(32)}`,
  framesRoot: `0x${'33'.repeat(32)}`,
  residualHash: `0x${'44'.repeat(32)}`,
  samples: 640,
  steps: 20,
  lossBeforeMicro: 2_300_000,
  lossAfterMicro: 2_100_000,
  computeMs: 1234,
  nonce,
  expiry: BigInt(NOW + 3600),
  partner: '',
});

async function refused(p: Promise<unknown>, code: ErrorCode, what: RegExp) {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  assert.ok(isIdlegradError(e, code), `expected ${code}, got ${String(e)}`);
  assert.match((e as Error).message, what);
}

test('session certificate: accepted once per key, refused by name for another run, device, signer, expiry, a key not held, a key of another account', async (t) => {
  const sql = await openDatabase({});
  const ledger = new Ledger(sql);
  const thread = new RecoveryThread();
  t.after(async () => {
    thread.stop();
    await sql.close();
  });
  const check = (address: Address, challenge: string, grant: SessionGrant, now = NOW) =>
    certifySession({ thread, domain, run: RUN, store: ledger }, address, challenge, grant, now);
  const alice = privateKeyToAccount(generatePrivateKey());
  const bob = privateKeyToAccount(generatePrivateKey());
  const a = alice.address.toLowerCase() as Address;
  const b = bob.address.toLowerCase() as Address;
  const holder = new SessionKeyHolder((typed) => alice.signTypedData(typed));

  // Good: certified, and the ledger keeps the certificate; the same certificate again (a reconnect) is accepted.
  const grant = await holder.grant(domain, RUN, a, 'c1', NOW);
  const key = await check(a, 'c1', grant);
  assert.equal(key.digestHex, certificateDigest(domain, certificateFromJson(grant.certificate)).toLowerCase());
  const { rows } = await sql.query<{ device: string }>('select device from session_certificates where digest = $1', [key.digestHex]);
  assert.deepEqual(
    rows.map((r) => r.device),
    [a],
  );
  await check(a, 'c2', await holder.grant(domain, RUN, a, 'c2', NOW));

  // Replayed certificate: its proof answers another challenge, or it is presented by another account.
  await refused(check(a, 'c3', grant), 'BAD_SIGNATURE', /did not sign this connection's challenge/);
  await refused(check(b, 'c1', grant), 'BAD_SIGNATURE', /names device .* not this hello's/);

  // Another run, expired, too long-lived.
  await refused(check(a, 'r', await new SessionKeyHolder((x) => alice.signTypedData(x)).grant(domain, RUN + 1, a, 'r', NOW)), 'WRONG_RUN', /for run 4/);
  await refused(check(a, 'c1', grant, NOW + 25 * 3600), 'EXPIRED', /session certificate expired/);
  const longLived = new SessionKeyHolder((x) => alice.signTypedData(x), 8 * 24 * 3600);
  await refused(check(a, 'l', await longLived.grant(domain, RUN, a, 'l', NOW)), 'LIMIT_EXCEEDED', /at most 604800 s/);

  // A certificate naming alice signed by bob (or under another domain).
  const forged = { ...grant, signature: await bob.signTypedData(sessionCertificateTypedData(domain, certificateFromJson(grant.certificate))) };
  await refused(check(a, 'c1', forged), 'BAD_SIGNATURE', /not signed by/);
  const otherDomain = eip712Domain(1, '0x5FbDB2315678afecb367f032d93F642f64180aa3');
  const elsewhere = { ...grant, signature: await alice.signTypedData(sessionCertificateTypedData(otherDomain, certificateFromJson(grant.certificate))) };
  await refused(check(a, 'c1', elsewhere), 'BAD_SIGNATURE', /not signed by/);

  // A key the page does not hold: bob certifies alice's session key, but cannot sign with it.
  const stolen = certificateFromJson(grant.certificate);
  const bobCert = { ...stolen, device: b };
  const bobDigest = certificateDigest(domain, bobCert);
  const mine = await newEd25519Signer();
  const bobGrant: SessionGrant = {
    certificate: { ...grant.certificate, device: b },
    signature: await bob.signTypedData(sessionCertificateTypedData(domain, bobCert)),
    proof: await mine.sign(new TextEncoder().encode(sessionProofMessage('b1', bobDigest))),
  };
  await refused(check(b, 'b1', bobGrant), 'BAD_SIGNATURE', /does not hold the key/);

  // Key reuse across accounts: even holding the key, a second account cannot certify it.
  const shared = await newEd25519Signer();
  const certFor = async (who: typeof alice, challenge: string): Promise<SessionGrant> => {
    const cert = { run: RUN, device: who.address.toLowerCase() as Address, sessionKey: shared.publicKey, expiry: BigInt(NOW + 3600) };
    const digest = certificateDigest(domain, cert);
    return {
      certificate: { ...cert, expiry: cert.expiry.toString() },
      signature: await who.signTypedData(sessionCertificateTypedData(domain, cert)),
      proof: await shared.sign(new TextEncoder().encode(sessionProofMessage(challenge, digest))),
    };
  };
  await check(a, 's1', await certFor(alice, 's1'));
  await refused(check(b, 's2', await certFor(bob, 's2')), 'DUPLICATE', /already certified for another account/);
});

test("report signature: verifies under the session's certified key only, over this contribution, certificate and domain", async (t) => {
  const thread = new RecoveryThread();
  t.after(() => thread.stop());
  const signers = new ContributionSigners(domain);
  const alice = privateKeyToAccount(generatePrivateKey());
  const a = alice.address.toLowerCase() as Address;
  const holder = new SessionKeyHolder((typed) => alice.signTypedData(typed));
  const grant = await holder.grant(domain, RUN, a, 'x', NOW);
  const digest = certificateDigest(domain, certificateFromJson(grant.certificate));
  const key: CertifiedKey = {
    publicKey: hexToBytes(grant.certificate.sessionKey),
    digest: hexToBytes(digest),
    digestHex: digest,
    expiry: BigInt(grant.certificate.expiry),
    certified: { certificate: grant.certificate, signature: grant.signature },
  };
  const c = contribution(1n);
  const good = await holder.signReport(domain, c);
  await signers.verifySessionOn(thread, c, key, good);
  // What the audit checks (WebCrypto) agrees with the thread (OpenSSL).
  assert.equal(await verifyEd25519(grant.certificate.sessionKey, good, contributionSigningBytes(domain, digest, c)), true);

  // Wrong key: another session key's signature over the same bytes.
  const other = await newEd25519Signer();
  const byOther = await other.sign(contributionSigningBytes(domain, digest, c));
  await refused(signers.verifySessionOn(thread, c, key, byOther), 'BAD_SIGNATURE', /not signed by this session's certified key/);
  // A changed field, another certificate (a report moved to another account's chain), another domain.
  await refused(signers.verifySessionOn(thread, { ...c, samples: c.samples + 1 }, key, good), 'BAD_SIGNATURE', /certified key/);
  const otherCert = { ...key, digest: hexToBytes(`0x${'ab'.repeat(32)}` as Hex) };
  await refused(signers.verifySessionOn(thread, c, otherCert, good), 'BAD_SIGNATURE', /certified key/);
  const foreign = await holder.signReport(eip712Domain(1, domain.verifyingContract), c);
  await refused(signers.verifySessionOn(thread, c, key, foreign), 'BAD_SIGNATURE', /certified key/);
  // A device-key (protocol 5) signature is the wrong shape: refused as malformed, never recovered.
  const old = `0x${'12'.repeat(65)}` as Hex;
  await refused(signers.verifySessionOn(thread, c, key, old), 'BAD_SIGNATURE', /malformed/);
});
