// The hashing and curve half of report signature checks, off the coordinator's event loop
// (RecoveryThread in coordinator/round/report-signature.ts): digest = keccak256(prefix ‖
// keccak256(struct)), the public key recovered from (rs, parity) over it, and its address.
// Plain JavaScript: worker threads do not inherit the tsx loader.
import { parentPort } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';
import jsSha3 from 'js-sha3';

const keccak = (b) => new Uint8Array(jsSha3.keccak256.arrayBuffer(b));

parentPort.on('message', ({ id, prefix, struct, rs, parity }) => {
  try {
    const msg = new Uint8Array(66);
    msg.set(prefix, 0);
    msg.set(keccak(struct), 34);
    const pub = recover(keccak(msg), rs, parity, false);
    parentPort.postMessage({ id, address: pub ? `0x${jsSha3.keccak256(pub.subarray(1)).slice(24)}` : null, error: null });
  } catch (e) {
    parentPort.postMessage({ id, address: null, error: e instanceof Error ? e.message : String(e) });
  }
});
