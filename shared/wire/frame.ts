// The update frame's fixed header and chunk-table entry (the whole frame format is documented
// in shared/codec.ts). Each layout is a table of field sizes; every offset is derived from it
// and named, and the one writer and the one reader below use the names, so no offset is typed
// twice. All integers little-endian.
import { bytesToHex, hexToBytes, type Hex } from 'viem';

/** Sizes in bytes, in wire order; offsets are their running sums. */
function layout<F extends Record<string, number>>(sizes: F): { at: { readonly [K in keyof F]: number }; bytes: number } {
  const at: Record<string, number> = {};
  let bytes = 0;
  for (const [name, size] of Object.entries(sizes)) {
    at[name] = bytes;
    bytes += size;
  }
  return { at: at as { [K in keyof F]: number }, bytes };
}

/** The frame header: 68 bytes. `indexCoding` is reserved (0) in version 1. */
export const FRAME_HEADER = layout({
  magic: 4,
  version: 1,
  kind: 1,
  bits: 1,
  indexCoding: 1,
  paramTableHash: 32,
  run: 4,
  round: 4,
  samples: 4,
  paramCount: 4,
  chunkSize: 4,
  chunkCount: 4,
  totalK: 4,
});
/** One entry of the chunk table after the header: values kept in the chunk, and their scale. */
export const CHUNK_ENTRY = layout({ k: 4, scale: 4 });

export const FRAME_MAGIC = 0x474c4449; // "IDLG" read as u32 LE
export const FRAME_VERSION = 2;
/** Versions a decoder accepts: 1 is 2 with u16 indices only. */
export const FRAME_VERSIONS: readonly number[] = [1, 2];

export const FrameKind = { update: 1, aggregate: 2 } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Bits per kept value on the wire. */
export type ValueBits = 2 | 4 | 8 | 32;
export const VALUE_BITS: readonly ValueBits[] = [2, 4, 8, 32];

/** How the kept values' chunk offsets travel: u16 each, or Rice-coded gaps; the header byte is the index here. */
export type IndexCoding = 'u16' | 'rice';
export const INDEX_CODINGS: readonly IndexCoding[] = ['u16', 'rice'];

export interface FrameHeader {
  kind: FrameKind;
  bits: ValueBits;
  indexCoding: IndexCoding;
  paramTableHash: Hex;
  run: number;
  round: number;
  samples: number;
  paramCount: number;
  chunkSize: number;
  chunkCount: number;
  totalK: number;
}

/** Writes magic, the current version and `h` at the start of `bytes` (at least FRAME_HEADER.bytes long). */
export function writeFrameHeader(bytes: Uint8Array, h: FrameHeader): void {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = FRAME_HEADER.at;
  dv.setUint32(at.magic, FRAME_MAGIC, true);
  dv.setUint8(at.version, FRAME_VERSION);
  dv.setUint8(at.kind, h.kind);
  dv.setUint8(at.bits, h.bits);
  dv.setUint8(at.indexCoding, INDEX_CODINGS.indexOf(h.indexCoding));
  bytes.set(hexToBytes(h.paramTableHash), at.paramTableHash);
  for (const f of ['run', 'round', 'samples', 'paramCount', 'chunkSize', 'chunkCount', 'totalK'] as const) dv.setUint32(at[f], h[f], true);
}

/** The header's fields as they stand, unchecked (decodeFrame checks each against the run); `bytes` holds at least FRAME_HEADER.bytes. */
export function readFrameHeader(
  bytes: Uint8Array,
): { magic: number; version: number; kind: number; bits: number; indexCoding: number } & Omit<FrameHeader, 'kind' | 'bits' | 'indexCoding'> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = FRAME_HEADER.at;
  const u32 = (o: number) => dv.getUint32(o, true);
  return {
    magic: u32(at.magic),
    version: dv.getUint8(at.version),
    kind: dv.getUint8(at.kind),
    bits: dv.getUint8(at.bits),
    indexCoding: dv.getUint8(at.indexCoding),
    paramTableHash: bytesToHex(bytes.subarray(at.paramTableHash, at.paramTableHash + 32)),
    run: u32(at.run),
    round: u32(at.round),
    samples: u32(at.samples),
    paramCount: u32(at.paramCount),
    chunkSize: u32(at.chunkSize),
    chunkCount: u32(at.chunkCount),
    totalK: u32(at.totalK),
  };
}

/** Chunk c's table entry, written and read at its named offsets. */
export function writeChunkEntry(dv: DataView, c: number, k: number, scale: number): void {
  const o = FRAME_HEADER.bytes + c * CHUNK_ENTRY.bytes;
  dv.setUint32(o + CHUNK_ENTRY.at.k, k, true);
  dv.setFloat32(o + CHUNK_ENTRY.at.scale, scale, true);
}
export function readChunkEntry(dv: DataView, c: number): { k: number; scale: number } {
  const o = FRAME_HEADER.bytes + c * CHUNK_ENTRY.bytes;
  return { k: dv.getUint32(o + CHUNK_ENTRY.at.k, true), scale: dv.getFloat32(o + CHUNK_ENTRY.at.scale, true) };
}
