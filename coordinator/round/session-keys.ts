// The coordinator's check of a hello's session key (shared/session-key.ts): the certificate is
// for this run, names the hello's device, has not expired and lives at most a week; the device
// key signed it (recovered on the engine's recovery thread); the session key signed this
// connection's challenge (so nobody certifies a key it does not hold); and the key is certified
// for one account only (the ledger's session_certificates table keeps the certificate an
// auditor re-checks each report's chain with). Every refusal names its code and what was wrong.
import { hexToBytes, type Address, type Hex } from 'viem';
import type { Eip712Domain } from '../../shared/eip712.ts';
import { IdlegradError } from '../../shared/errors.ts';
import {
  certificateDigest,
  certificateFromJson,
  MAX_SESSION_CERTIFICATE_S,
  sessionProofMessage,
  verifyEd25519,
  type SessionGrant,
} from '../../shared/session-key.ts';
import { ContributionSigners, type RecoveryThread } from './report-signature.ts';

/** A session key the coordinator accepted: what each report's signature is checked against. */
export interface CertifiedKey {
  /** The raw 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** The certificate's EIP-712 digest: the ledger's key for it, and part of what each report signs. */
  digest: Uint8Array;
  digestHex: Hex;
  expiry: bigint;
  /** The certificate and the device key's signature over it: journaled with each report (cluster mode), so a successor re-checks the chain. */
  certified: JournaledCertificate;
}

/** A session certificate as a journaled report carries it: the certificate and the device key's EIP-712 signature (no proof: its challenge was the first engine's connection's). */
export type JournaledCertificate = Omit<SessionGrant, 'proof'>;

/** Where certificates are kept: 'new' or 'same' when this certificate may be used; else the device the key is already certified for. */
export interface CertificateStore {
  keepSessionCertificate(digest: Hex, grant: SessionGrant): Promise<{ ok: true } | { ok: false; device: Address | null }>;
  /** The device a kept certificate names, or null when the ledger holds no certificate of that digest. */
  sessionCertificateDevice(digest: Hex): Promise<Address | null>;
}

type CheckOptions = { thread: RecoveryThread; domain: Eip712Domain; run: number; store: CertificateStore };

/** The checks a certificate passes wherever it is presented: run, device, lifetime at `nowSec`, the device key's signature. */
async function checkCertificate(
  o: CheckOptions,
  address: Address,
  grant: JournaledCertificate,
  nowSec: number,
  what: string,
  whose: string,
): Promise<CertifiedKey> {
  const cert = certificateFromJson(grant.certificate);
  const device = address.toLowerCase();
  if (cert.run !== o.run) throw new IdlegradError('WRONG_RUN', `${what} is for run ${cert.run}; this coordinator trains run ${o.run}`);
  if (cert.device.toLowerCase() !== device) throw new IdlegradError('BAD_SIGNATURE', `${what} names device ${cert.device}, not ${whose} ${address}`);
  if (cert.expiry <= BigInt(nowSec)) throw new IdlegradError('EXPIRED', `${what} expired at ${cert.expiry} (now ${nowSec})`);
  if (cert.expiry > BigInt(nowSec + MAX_SESSION_CERTIFICATE_S))
    throw new IdlegradError('LIMIT_EXCEEDED', `${what} lives until ${cert.expiry}: at most ${MAX_SESSION_CERTIFICATE_S} s from now (${nowSec})`);
  const digestHex = certificateDigest(o.domain, cert).toLowerCase() as Hex;
  const digest = hexToBytes(digestHex);
  const signer = await ContributionSigners.digestSignerOn(o.thread, digest, grant.signature, what).catch(() => null);
  if (signer !== device) throw new IdlegradError('BAD_SIGNATURE', `${what} is not signed by ${address}`);
  const certified = { certificate: grant.certificate, signature: grant.signature };
  return { publicKey: hexToBytes(cert.sessionKey), digest, digestHex, expiry: cert.expiry, certified };
}

export async function certifySession(o: CheckOptions, address: Address, challenge: string, grant: SessionGrant, nowSec: number): Promise<CertifiedKey> {
  const key = await checkCertificate(o, address, grant, nowSec, 'session certificate', "this hello's");
  const proof = new TextEncoder().encode(sessionProofMessage(challenge, key.digestHex));
  if (!(await verifyEd25519(grant.certificate.sessionKey, grant.proof, proof)))
    throw new IdlegradError('BAD_SIGNATURE', "session key did not sign this connection's challenge: the page does not hold the key it certified");
  const kept = await o.store.keepSessionCertificate(key.digestHex, grant);
  if (!kept.ok)
    throw new IdlegradError(
      'DUPLICATE',
      kept.device && kept.device !== address.toLowerCase()
        ? `session key ${grant.certificate.sessionKey} is already certified for another account (${kept.device}): make a new key`
        : `session key ${grant.certificate.sessionKey} already has another certificate: make a new key for a new certificate`,
    );
  return key;
}

/**
 * The session key of a report another engine journaled (resumeRound, cluster mode): the same
 * certificate checks as at hello, at the report's receipt time, and in place of the proof of
 * possession (whose challenge was that engine's connection) the ledger must already keep this
 * certificate for this account, as the hello that certified it wrote it before any report.
 * Missing, forged (not the device's signature), for another run or account, or never kept: refused by name.
 */
export async function recertifySession(
  o: CheckOptions,
  address: Address,
  journaled: JournaledCertificate | null | undefined,
  receivedAtSec: number,
): Promise<CertifiedKey> {
  if (!journaled) throw new IdlegradError('BAD_SIGNATURE', `journaled report of ${address} carries no session certificate: its signature cannot be checked`);
  const key = await checkCertificate(o, address, journaled, receivedAtSec, 'journaled session certificate', "the report's account");
  const kept = await o.store.sessionCertificateDevice(key.digestHex);
  if (kept !== address.toLowerCase())
    throw new IdlegradError(
      'BAD_SIGNATURE',
      kept
        ? `journaled session certificate ${key.digestHex} is kept for ${kept}, not ${address}`
        : `journaled session certificate ${key.digestHex} was never certified at a hello (the ledger does not keep it)`,
    );
  return key;
}
