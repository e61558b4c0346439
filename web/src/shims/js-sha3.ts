// js-sha3 as the browser build sees it (vite.config.ts resolve.alias). shared/keccak.ts takes
// keccak-256 from js-sha3 because it is about 4× faster than viem's in the coordinator's hot
// paths; in the page, hashing is not the bottleneck and viem's keccak is in the bundle anyway,
// so this stands in for the two forms shared/keccak.ts uses (hex, and raw bytes for the residual
// Merkle trees of shared/wire/evidence.ts) and js-sha3 (about 5 KiB gzip) stays out of the
// volunteer page's initial JavaScript. Same function, same digests.
import { keccak256 } from 'viem';

const hex = (data: Uint8Array): string => keccak256(data).slice(2);

export default {
  keccak256: Object.assign(hex, { arrayBuffer: (data: Uint8Array): ArrayBuffer => keccak256(data, 'bytes').slice().buffer }),
};
