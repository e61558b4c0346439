// The model hash h_r that the coordinator, every peer and the validator must agree on after each
// round (DESIGN.md "One round", steps 2 and 7), in one of two schemes a run spec names:
//
// - 'sha256-chunks' (every run created since protocol 4): a two-level Merkle hash. θ's
//   little-endian float32 bytes are cut into chunks of MODEL_HASH_CHUNK_FLOATS floats (1 MiB; the
//   last one shorter); leaf_i = sha256(chunk_i); root = sha256(header ‖ leaf_0 ‖ … ‖ leaf_{n−1})
//   with header = u32 chunk floats ‖ u32 parameter count (big-endian), so a root names its layout.
//   Each leaf is an independent WebCrypto digest: native code off the page's main thread and the
//   coordinator's event loop, run in parallel (a browser's and Node's crypto threads), where the
//   whole-model keccak was JavaScript on the calling thread. `nice -n 19 npx tsx
//   shared/model-hash.bench.ts` (2026-12-06, load 30, Node 20): gpt-small keccak 6,474 ms, all of
//   it an event-loop stall, sha256-chunks 380 ms with a longest stall of 325 ms; gpt-base 9,751
//   against 804 (664) ms; gpt-micro 238 against 10 (4) ms. The leaves also let a chunk be
//   checked on its own.
// - 'keccak256' (runs created before; a spec without the field): keccak256 of all bytes at once
//   (shared/model.ts hashParams), kept so that their ledgers' hash chains resume unchanged.
//
// Not incremental: rehashing only changed chunks would save nothing per round, since a codec
// chunk of 1,024 values keeps its own top-k (shared/codec.ts), so every 1 MiB leaf holds nonzero
// update values every round (model-hash.test.ts checks it with gpt-small's codec).
import { bytesToHex, type Hex } from 'viem';
import { hashParams } from './model.ts';

export type ModelHashScheme = 'sha256-chunks' | 'keccak256';
export const MODEL_HASH_SCHEMES: readonly ModelHashScheme[] = ['sha256-chunks', 'keccak256'];
/** What new runs use (shared/config.ts runSpecOf). */
export const MODEL_HASH_SCHEME: ModelHashScheme = 'sha256-chunks';

/** Floats a leaf covers: 1 MiB of float32 (gpt-small has 42 leaves, gpt-base 98). */
export const MODEL_HASH_CHUNK_FLOATS = 262_144;

/** A run's scheme: the spec's, or keccak256 for a spec made before the field existed. */
export const modelHashSchemeOf = (run: { modelHashScheme?: ModelHashScheme }): ModelHashScheme => run.modelHashScheme ?? 'keccak256';

const sha256 = async (bytes: Uint8Array): Promise<Uint8Array> =>
  new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));

/** sha256 of each MODEL_HASH_CHUNK_FLOATS-float chunk of θ's bytes, all digests in flight at once. */
export function modelLeafHashes(params: Float32Array): Promise<Uint8Array[]> {
  const leaves: Promise<Uint8Array>[] = [];
  for (let at = 0; at < params.length; at += MODEL_HASH_CHUNK_FLOATS) {
    const n = Math.min(MODEL_HASH_CHUNK_FLOATS, params.length - at);
    leaves.push(sha256(new Uint8Array(params.buffer, params.byteOffset + at * 4, n * 4)));
  }
  return Promise.all(leaves);
}

/** The root over `leaves` (modelLeafHashes) of a θ with `paramCount` floats. */
export async function modelRootOf(leaves: readonly Uint8Array[], paramCount: number): Promise<Hex> {
  const body = new Uint8Array(8 + 32 * leaves.length);
  const header = new DataView(body.buffer);
  header.setUint32(0, MODEL_HASH_CHUNK_FLOATS);
  header.setUint32(4, paramCount);
  leaves.forEach((leaf, i) => body.set(leaf, 8 + 32 * i));
  return bytesToHex(await sha256(body));
}

/** h(θ) in `scheme`. */
export async function hashModel(params: Float32Array, scheme: ModelHashScheme): Promise<Hex> {
  if (scheme === 'keccak256') return hashParams(params);
  return modelRootOf(await modelLeafHashes(params), params.length);
}

/** h(θ) as `run` hashes it (its spec's scheme). */
export const runModelHash = (run: { modelHashScheme?: ModelHashScheme }, params: Float32Array): Promise<Hex> => hashModel(params, modelHashSchemeOf(run));
