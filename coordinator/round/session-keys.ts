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
}

/** Where certificates are kept: 'new' or 'same' when this certificate may be used; else the device the key is already certified for. */
export interface CertificateStore {
  keepSessionCertificate(digest: Hex, grant: SessionGrant): Promise<{ ok: true } | { ok: false; device: Address | null }>;
}

export async function certifySession(
  o: { thread: RecoveryThread; domain: Eip712Domain; run: number; store: CertificateStore },
  address: Address,
  challenge: string,
  grant: SessionGrant,
  nowSec: number,
): Promise<CertifiedKey> {
  const cert = certificateFromJson(grant.certificate);
  const device = address.toLowerCase();
  if (cert.run !== o.run) throw new IdlegradError('WRONG_RUN', `session certificate is for run ${cert.run}; this coordinator trains run ${o.run}`);
  if (cert.device.toLowerCase() !== device)
    throw new IdlegradError('BAD_SIGNATURE', `session certificate names device ${cert.device}, not this hello's ${address}`);
  if (cert.expiry <= BigInt(nowSec)) throw new IdlegradError('EXPIRED', `session certificate expired at ${cert.expiry} (now ${nowSec})`);
  if (cert.expiry > BigInt(nowSec + MAX_SESSION_CERTIFICATE_S))
    throw new IdlegradError('LIMIT_EXCEEDED', `session certificate lives until ${cert.expiry}: at most ${MAX_SESSION_CERTIFICATE_S} s from now (${nowSec})`);
  const digestHex = certificateDigest(o.domain, cert).toLowerCase() as Hex;
  const digest = hexToBytes(digestHex);
  const signer = await ContributionSigners.digestSignerOn(o.thread, digest, grant.signature, 'session certificate').catch(() => null);
  if (signer !== device) throw new IdlegradError('BAD_SIGNATURE', `session certificate is not signed by ${address}`);
  const proof = new TextEncoder().encode(sessionProofMessage(challenge, digestHex));
  if (!(await verifyEd25519(cert.sessionKey, grant.proof, proof)))
    throw new IdlegradError('BAD_SIGNATURE', "session key did not sign this connection's challenge: the page does not hold the key it certified");
  const kept = await o.store.keepSessionCertificate(digestHex, grant);
  if (!kept.ok)
    throw new IdlegradError(
      'DUPLICATE',
      kept.device && kept.device !== device
        ? `session key ${cert.sessionKey} is already certified for another account (${kept.device}): make a new key`
        : `session key ${cert.sessionKey} already has another certificate: make a new key for a new certificate`,
    );
  return { publicKey: hexToBytes(cert.sessionKey), digest, digestHex, expiry: cert.expiry };
}
