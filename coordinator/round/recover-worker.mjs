// The hashing and curve half of report signature checks, off the coordinator's event loop
// (RecoveryThread in coordinator/round/report-signature.ts): digest = keccak256(prefix ‖
// keccak256(struct)) (or a digest given as it is: a hello's EIP-191 hash), the public key
// recovered from (rs, parity) over it, and its address.
// Plain JavaScript: worker threads do not inherit the tsx loader.
import { parentPort } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';
import jsSha3 from 'js-sha3';

const keccak = (b) => new Uint8Array(jsSha3.keccak256.arrayBuffer(b));

/** One request: the signer's address, or why none recovers. */
function answer({ prefix, struct, digest, rs, parity }) {
  try {
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
