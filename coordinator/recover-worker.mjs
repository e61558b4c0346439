// The curve half of report signature checks, off the coordinator's event loop
// (RecoveryThread in coordinator/report-signature.ts). Plain JavaScript: worker threads
// do not inherit the tsx loader.
import { parentPort } from 'node:worker_threads';
import { recover } from 'tiny-secp256k1';

parentPort.on('message', ({ id, digest, rs, parity }) => {
  try {
    parentPort.postMessage({ id, pub: recover(digest, rs, parity, false), error: null });
  } catch (e) {
    parentPort.postMessage({ id, pub: null, error: e instanceof Error ? e.message : String(e) });
  }
});
