// Session keys (issue 17): each report is signed by an Ed25519 key the page makes for its
// session, not by the secp256k1 device key, because the coordinator verifies Ed25519 natively
// (node:crypto) at about a third of the CPU of recovering a secp256k1 signer. The device key
// certifies the session key once, at hello (an EIP-712 SessionCertificate under the
// contributions' domain: run, device, session key, expiry), and proves the page holds the key
// by having it sign the connection's challenge. A report's Ed25519 signature covers the
// certificate's digest and the Contribution's EIP-712 digest, so a report is bound to one
// certificate, hence one account, one run and one chain; the ledger keeps both signatures and
// the epoch file publishes them, so an auditor re-checks device → certificate → report.
// The byte layouts and the WebCrypto verification live here: the page, the coordinator, the
// audit and the test clients use the same ones.
import { bytesToHex, hashTypedData, hexToBytes, type Hex } from 'viem';
import { contributionTypedData, sessionCertificateTypedData, type Contribution, type Eip712Domain, type SessionCertificate } from './eip712.ts';
import { addr, decimal, edSig, fail, hex32, shape, sig, u32, type Parser } from './wire/parse.ts';

/** A SessionCertificate as JSON: the expiry as a decimal string. */
export type SessionCertificateJson = Omit<SessionCertificate, 'expiry'> & { expiry: string };

/** What a hello carries to certify its session key: the device's certificate and the key's proof of possession. */
export interface SessionGrant {
  certificate: SessionCertificateJson;
  /** The device key's EIP-712 signature over `certificate` (65 bytes). */
  signature: Hex;
  /** The session key's Ed25519 signature over sessionProofMessage(challenge, certificate digest) (64 bytes). */
  proof: Hex;
}

/** The longest a certificate may live, from the hello that presents it: a week. */
export const MAX_SESSION_CERTIFICATE_S = 7 * 24 * 3600;
/** A page asks for a new certificate when the one it holds has less than this left. */
export const SESSION_CERTIFICATE_RENEW_S = 3600;

const REPORT_TAG = new TextEncoder().encode('idlegrad session report v1\n');

export const certificateFromJson = (c: SessionCertificateJson): SessionCertificate => ({ ...c, expiry: BigInt(c.expiry) });
export const certificateToJson = (c: SessionCertificate): SessionCertificateJson => ({ ...c, expiry: c.expiry.toString() });

/** The EIP-712 digest the device key signs for `cert`: what each report's Ed25519 signature names. */
export const certificateDigest = (domain: Eip712Domain, cert: SessionCertificate): Hex => hashTypedData(sessionCertificateTypedData(domain, cert));

/** The bytes a session key signs for one report: a tag, the certificate's digest, the Contribution's EIP-712 digest. */
export function reportSigningBytes(certDigest: Hex | Uint8Array, contributionDigest: Hex | Uint8Array): Uint8Array {
  const bytes = new Uint8Array(REPORT_TAG.length + 64);
  bytes.set(REPORT_TAG, 0);
  bytes.set(typeof certDigest === 'string' ? hexToBytes(certDigest) : certDigest, REPORT_TAG.length);
  bytes.set(typeof contributionDigest === 'string' ? hexToBytes(contributionDigest) : contributionDigest, REPORT_TAG.length + 32);
  return bytes;
}

/** reportSigningBytes for a Contribution, its digest computed with viem (the page, the audit, test clients). */
export const contributionSigningBytes = (domain: Eip712Domain, certDigest: Hex, c: Contribution): Uint8Array =>
  reportSigningBytes(certDigest, hashTypedData(contributionTypedData(domain, c)));

/** The text a session key signs at hello: proof that the page holds the key it asks the coordinator to accept. */
export const sessionProofMessage = (challenge: string, certDigest: Hex) =>
  `idlegrad session key\nchallenge: ${challenge}\ncertificate: ${certDigest.toLowerCase()}`;

/** A copy on its own ArrayBuffer: what WebCrypto's typings take. */
const own = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

/** Ed25519 verification with WebCrypto (the browser's and Node's `crypto.subtle`); false for a malformed key or signature. */
export async function verifyEd25519(publicKey: Hex, signature: Hex, data: Uint8Array): Promise<boolean> {
  try {
    const key = await crypto.subtle.importKey('raw', own(hexToBytes(publicKey)), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, own(hexToBytes(signature)), own(data));
  } catch {
    return false;
  }
}

/** A session key pair held by WebCrypto (its private half never extractable): what a page or a test client signs reports with. */
export interface Ed25519Signer {
  publicKey: Hex;
  sign(data: Uint8Array): Promise<Hex>;
}

export async function newEd25519Signer(): Promise<Ed25519Signer> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const publicKey = bytesToHex(new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey)));
  return {
    publicKey,
    sign: async (data) => bytesToHex(new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, own(data)))),
  };
}

const expiry: Parser<string> = (v, path) => {
  const d = decimal(v, path);
  return BigInt(d) > 0n ? d : fail(path, 'an expiry in unix seconds', v);
};

export const parseSessionCertificate: Parser<SessionCertificateJson> = shape<SessionCertificateJson>({
  run: u32,
  device: addr,
  sessionKey: hex32,
  expiry,
});

/** A certificate as a journaled report carries it (cluster mode): the grant without the connection's proof. */
export const parseJournaledCertificate: Parser<Omit<SessionGrant, 'proof'>> = shape<Omit<SessionGrant, 'proof'>>({
  certificate: parseSessionCertificate,
  signature: sig,
});

export const parseSessionGrant: Parser<SessionGrant> = shape<SessionGrant>({ certificate: parseSessionCertificate, signature: sig, proof: edSig });

/**
 * One client's session key and its certificate: made on the first hello, presented again on
 * every reconnect, replaced (a new key) when the run or chain changes or less than
 * SESSION_CERTIFICATE_RENEW_S is left. `signCertificate` is the device key's EIP-712 signer.
 */
export class SessionKeyHolder {
  private signer: Promise<Ed25519Signer> | null = null;
  private current: { certificate: SessionCertificate; digest: Hex; signature: Hex; domain: string } | null = null;

  constructor(
    private readonly signCertificate: (typed: ReturnType<typeof sessionCertificateTypedData>) => Promise<Hex>,
    private readonly lifetimeS = 24 * 3600,
  ) {}

  /** The grant for a hello answering `challenge`: the certificate (made now when none fits) and the key's proof. */
  async grant(domain: Eip712Domain, run: number, device: `0x${string}`, challenge: string, nowSec: number): Promise<SessionGrant> {
    const domainKey = `${domain.chainId}:${domain.verifyingContract.toLowerCase()}`;
    const c = this.current;
    if (
      !c ||
      c.domain !== domainKey ||
      c.certificate.run !== run ||
      c.certificate.device !== device ||
      c.certificate.expiry < BigInt(nowSec + SESSION_CERTIFICATE_RENEW_S)
    ) {
      this.signer = newEd25519Signer();
      const certificate: SessionCertificate = { run, device, sessionKey: (await this.signer).publicKey, expiry: BigInt(nowSec + this.lifetimeS) };
      const signature = await this.signCertificate(sessionCertificateTypedData(domain, certificate));
      this.current = { certificate, digest: certificateDigest(domain, certificate), signature, domain: domainKey };
    }
    const { certificate, digest, signature } = this.current!;
    const proof = await (await this.signer!).sign(new TextEncoder().encode(sessionProofMessage(challenge, digest)));
    return { certificate: certificateToJson(certificate), signature, proof };
  }

  /** The certificate the last grant presented (null before the first): what an auditor checks a report's chain with. */
  get certificate(): { certificate: SessionCertificateJson; digest: Hex; signature: Hex } | null {
    const c = this.current;
    return c && { certificate: certificateToJson(c.certificate), digest: c.digest, signature: c.signature };
  }

  /** The session key's signature over one report (reportSigningBytes); throws before the first grant. */
  async signReport(domain: Eip712Domain, c: Contribution): Promise<Hex> {
    if (!this.current || !this.signer) throw new Error('no session key yet: a report is signed only after a hello certified one');
    return (await this.signer).sign(contributionSigningBytes(domain, this.current.digest, c));
  }
}
