// A session key for the harnesses that drive thousands of virtual volunteers (npm run load,
// npm run scale, the fuzz test): the same certificate and signed bytes as a page's
// (shared/session-key.ts), made with node:crypto synchronously so reports can be pre-signed.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem';
import type { Eip712Domain, SessionCertificate } from '../shared/eip712.ts';
import { certificateDigest, certificateToJson, reportSigningBytes, sessionProofMessage, type SessionGrant } from '../shared/session-key.ts';

export class NodeSessionKey {
  readonly certificate: SessionCertificate;
  readonly digest: Hex;
  private readonly digestBytes: Uint8Array;
  /** The device key's signature over the certificate. */
  readonly signature: Hex;
  /** chainId:verifyingContract of the domain the certificate is signed under. */
  readonly domainKey: string;
  private readonly privateKey: KeyObject;

  /** `signDigest`: the device key's secp256k1 signature (65 bytes) over a 32-byte EIP-712 digest. */
  constructor(domain: Eip712Domain, run: number, device: Address, signDigest: (digest: Uint8Array) => Hex, expirySec: number) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    // The raw key is the last 32 bytes of its DER SubjectPublicKeyInfo.
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
    this.privateKey = privateKey;
    this.domainKey = `${domain.chainId}:${domain.verifyingContract.toLowerCase()}`;
    this.certificate = { run, device, sessionKey: bytesToHex(raw), expiry: BigInt(expirySec) };
    this.digest = certificateDigest(domain, this.certificate);
    this.digestBytes = hexToBytes(this.digest);
    this.signature = signDigest(this.digestBytes);
  }

  /** The report signature over a Contribution's EIP-712 digest (ContributionSigners.digest). */
  signReport(contributionDigest: Uint8Array): Hex {
    return bytesToHex(sign(null, reportSigningBytes(this.digestBytes, contributionDigest), this.privateKey));
  }

  /** What a hello answering `challenge` carries. */
  grant(challenge: string): SessionGrant {
    const proof = bytesToHex(sign(null, new TextEncoder().encode(sessionProofMessage(challenge, this.digest)), this.privateKey));
    return { certificate: certificateToJson(this.certificate), signature: this.signature, proof };
  }
}
