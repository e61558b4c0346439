// The hashing and curve half of report signature checks, off the coordinator's event loop
// (RecoveryThread in coordinator/round/report-signature.ts): digest = keccak256(prefix ‖
// keccak256(struct)) (or a digest given as it is: a hello's EIP-191 hash), the public key
// recovered from (rs, parity) over it, and its address; or, for a report signed by a session
// key (shared/session-key.ts), the Ed25519 signature over tag ‖ certificate digest ‖ digest
// verified with node:crypto (OpenSSL).
// Plain JavaScript: worker threads do not inherit the tsx loader.
import { parentPort } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';
import jsSha3 from 'js-sha3';
import { createPublicKey, verify } from 'node:crypto';

const keccak = (b) => new Uint8Array(jsSha3.keccak256.arrayBuffer(b));

const REPORT_TAG = new TextEncoder().encode('idlegrad session report v1\n');
/** DER SubjectPublicKeyInfo header of an Ed25519 key: the 32 raw bytes follow. */
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');
/** Session keys seen, as OpenSSL key objects (one per session; dropped all at once past the cap). */
const keys = new Map();
function keyOf(raw) {
  const id = Buffer.from(raw).toString('hex');
  let key = keys.get(id);
  if (!key) {
    if (keys.size >= 200_000) keys.clear();
    key = createPublicKey({ key: Buffer.concat([ED25519_SPKI, raw]), format: 'der', type: 'spki' });
    keys.set(id, key);
  }
  return key;
}

/** One request: the signer's address, or why none recovers; for a session-key report, whether its signature verifies. */
function answer({ prefix, struct, digest, rs, parity, session }) {
  try {
    if (session) {
      const msg = new Uint8Array(66);
      msg.set(prefix, 0);
      msg.set(keccak(struct), 34);
      const data = new Uint8Array(REPORT_TAG.length + 64);
      data.set(REPORT_TAG, 0);
      data.set(session.certDigest, REPORT_TAG.length);
      data.set(keccak(msg), REPORT_TAG.length + 32);
      return { address: null, error: null, valid: verify(null, data, keyOf(session.publicKey), session.signature) };
    }
    let hash = digest;
    if (!hash) {
      const msg = new Uint8Array(66);
      msg.set(prefix, 0);
      msg.set(keccak(struct), 34);
      hash = keccak(msg);
    }
    const pub = recover(hash, rs, parity, false);
    return { address: pub ? `0x${jsSha3.keccak256(pub.subarray(1)).slice(24)}` : null, error: null };
  } catch (e) {
    return { address: null, error: e instanceof Error ? e.message : String(e) };
  }
}

// A batch: every request the event loop queued in one turn, answered in one message, in order.
parentPort.on('message', ({ id, batch }) => parentPort.postMessage({ id, answers: batch.map(answer) }));
