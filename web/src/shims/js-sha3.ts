// js-sha3 as the browser build sees it (vite.config.ts resolve.alias). shared/keccak.ts takes
// keccak-256 from js-sha3 because it is about 4× faster than viem's in the coordinator's hot
// paths; in the page, hashing is not the bottleneck and viem's keccak is in the bundle anyway,
// so this stands in for the one function shared/keccak.ts uses and js-sha3 (about 5 KiB gzip)
// stays out of the volunteer page's initial JavaScript. Same function, same digests.
import { keccak256 } from 'viem';

export default {
  keccak256: (data: Uint8Array): string => keccak256(data).slice(2),
};
