// The update codec: chunked top-k + low-bit quantization with error feedback, and the
// binary frame that carries the result between peers and to the coordinator.
//
// Frame, version 2 (all integers little-endian; the header and chunk-entry offsets are named
// once, in shared/wire/frame.ts FRAME_HEADER and CHUNK_ENTRY):
//
//   offset  size  field
//   0       4     magic            "IDLG" (0x474c4449 read as u32 LE)
//   4       1     version          1
//   5       1     kind             1 = peer update, 2 = aggregate
//   6       1     bits             2 | 4 | 8 (signed integers q, value = q · chunk scale) | 32 (float32, scale 0)
//   7       1     indexCoding      0 = u16 indices, 1 = Rice-coded gaps (update frames only)
//   8       32    paramTableHash   keccak256 of the model's parameter table
//   40      4     run
//   44      4     round
//   48      4     samples          training samples behind this update (aggregation weight)
//   52      4     paramCount
//   56      4     chunkSize        ≤ 65536, so a local index fits a u16
//   60      4     chunkCount       = ceil(paramCount / chunkSize)
//   64      4     totalK           Σ k over chunks
//   68      8·n   chunk table      n × (u32 k, f32 scale)
//   …              indices          offsets inside each chunk, strictly increasing per chunk; a
//                                  full chunk (k = its length) sends none (all are implied).
//                                  indexCoding 0: 2·K' bytes, u16 each, K' = Σ k over the
//                                  chunks that are not full.
//                                  indexCoding 1: u32 indexBytes, then indexBytes bytes of a
//                                  bit stream (least significant bit of each byte first): per
//                                  chunk that is neither empty nor full, per index, the gap
//                                  g = offset − previous offset − 1 (previous = −1 at a chunk's
//                                  start) as ⌊g / 2^r⌋ one-bits, a zero-bit, then the r low
//                                  bits of g, with r = riceBits(chunk length, k) (below). The
//                                  stream ends in its last byte; unused bits there are zero.
//   …       0–3   padding          zeros, to a 4-byte boundary
//   …       ⌈K·b/8⌉ values         in index order, packed across chunks:
//                                    b = 32: float32
//                                    b = 8:  int8 q ∈ [−127, 127]
//                                    b = 4:  two per byte, value k in the low nibble when k is
//                                            even; 4-bit two's complement q ∈ [−7, 7]
//                                    b = 2:  four per byte, value k at bits 2·(k mod 4);
//                                            2-bit two's complement q ∈ [−1, 1]
//                                  unused high bits of the last byte are zero
//
// Quantization is deterministic (no stochastic rounding). At 8 and 4 bits, per chunk,
// scale = fround(max|x| / qmax) with qmax = 2^(b−1) − 1 and q = clamp(round(x / scale)); at
// 2 bits q = sign(x) and scale = fround(mean |x|) over the chunk's kept values. Decoded
// value = fround(q · scale). The codes −128, −8 and −2 are never written and are refused on
// decode, so every value has one encoding.
//
// Rice coding (indexCoding 1): top-k offsets at density ρ are near-geometric gaps of mean 1/ρ;
// a Rice code costs about log2(1/ρ) + 1.5 bits an index instead of 16, so at ρ = 2 % an index
// and a 2-bit value take ~9 bits instead of 18 and a frame carries twice the values for the
// same bytes. riceBits is integer arithmetic only, so every peer derives the same r.
//
// Version 1 is version 2 with byte 7 reserved as 0 (u16 indices); decoders accept both.
//
// Sizes for the MNIST MLP (50,890 parameters, chunks of 4096), measured by `npm run sim`: a
// dense float32 frame (encodeDenseUpdate, indices implied) is 203,732 bytes; top-k at density
// ρ with u16 indices costs about ρ·(2 + b/8) bytes a parameter plus 172 bytes of header and
// chunk table, so 1 % at 4 bits is 1,447 bytes (141× smaller); with Rice-coded indices 3 % at
// 2 bits (the default run) is about 1,810 bytes (112×), where u16 indices would need 3,600.
//
// Decoding validates every length against the run's limits before it allocates anything
// sized by the frame; a frame is either wholly valid or rejected with a named reason.
import type { Hex } from 'viem';
import { keccak256 } from './keccak.ts';
import { IdlegradError } from './errors.ts';
import {
  CHUNK_ENTRY,
  FRAME_HEADER,
  FRAME_MAGIC,
  FRAME_VERSIONS,
  FrameKind,
  INDEX_CODINGS,
  readChunkEntry,
  readFrameHeader,
  VALUE_BITS,
  writeChunkEntry,
  writeFrameHeader,
  type FrameHeader,
  type IndexCoding,
  type ValueBits,
} from './wire/frame.ts';

const FRAME_HEADER_BYTES = FRAME_HEADER.bytes;
const CHUNK_ENTRY_BYTES = CHUNK_ENTRY.bytes;

export interface CodecConfig {
  /** Fraction of values kept per chunk (top-k by magnitude). */
  density: number;
  /** Bits per kept value: 2, 4 or 8 (signed integer × per-chunk scale) or 32 (float32). */
  bits: ValueBits;
  chunkSize: number;
  /** Default 'u16'. */
  indexCoding?: IndexCoding;
  /** Denser frames for the run's first rounds (codecAtRound); absent: `density` from round 0. */
  warmup?: CodecWarmup;
}

/**
 * A codec warm-up (issue 15): rounds 0 … rounds − 1 keep `density` of each chunk (if above the
 * run's), later rounds the run's. At 3 % a round carries too little of the first, largest updates,
 * so the loss is still far above its best after round 5. A function of the run's settings and the
 * round alone: every encoder (page, the validator's re-encode, the coordinator's down codec, the
 * sim) and every receiver's limits agree on a round's density without a message.
 */
export interface CodecWarmup {
  rounds: number;
  density: number;
}

/**
 * The codec a frame of `round` is coded with (its density by the warm-up); with no round, the
 * loosest of them (a size cap that must admit every round's frame).
 */
export function codecAtRound(cfg: CodecConfig, round: number | undefined): CodecConfig {
  const w = cfg.warmup;
  if (!w || w.density <= cfg.density || (round !== undefined && round >= w.rounds)) return cfg;
  return { ...cfg, density: w.density };
}

/** What a receiver accepts: taken from the run spec, never from the frame. */
export interface FrameLimits {
  paramTableHash: Hex;
  paramCount: number;
  run: number;
  chunkSize: number;
  /** Largest k per chunk for an update frame; aggregate frames may fill a chunk. */
  maxUpdateK: number;
  maxSamples: number;
  /** The run's value width: update frames must use it (aggregates are always float32). */
  bits?: ValueBits;
  /** The run's index coding: update frames must use it (aggregates always use u16). */
  indexCoding?: IndexCoding;
  /** Expected round, when the receiver knows it. */
  round?: number;
}

export interface DecodedFrame {
  header: FrameHeader;
  /** Flat parameter indices of the kept values, ascending. */
  indices: Uint32Array;
  values: Float32Array;
}

export function kPerChunk(cfg: Pick<CodecConfig, 'density'>, chunkLength: number): number {
  return Math.min(chunkLength, Math.max(1, Math.ceil(cfg.density * chunkLength)));
}

export function frameLimits(args: {
  paramTableHash: Hex;
  paramCount: number;
  run: number;
  codec: CodecConfig;
  maxSamples: number;
  round?: number;
}): FrameLimits {
  const codec = codecAtRound(args.codec, args.round);
  return {
    paramTableHash: args.paramTableHash,
    paramCount: args.paramCount,
    run: args.run,
    chunkSize: args.codec.chunkSize,
    maxUpdateK: kPerChunk(codec, codec.chunkSize),
    maxSamples: args.maxSamples,
    bits: args.codec.bits,
    indexCoding: args.codec.indexCoding ?? 'u16',
    round: args.round,
  };
}

/**
 * keccak256 of a frame's bytes, through shared/keccak.ts (js-sha3 in Node: 1.8 against 6.4 ms of
 * CPU for a 61 KB cohort aggregate with viem's; the coordinator hashes every upload on its event
 * loop and every combine group's output).
 */
export function hashFrame(bytes: Uint8Array): Hex {
  return keccak256(bytes);
}

/** Largest quantized magnitude for a width: 127, 7, 1. */
const qmaxOf = (bits: 2 | 4 | 8) => (1 << (bits - 1)) - 1;
/** Bytes of the values section for K values. */
export const valueBytes = (totalK: number, bits: ValueBits) => (bits === 32 ? 4 * totalK : Math.ceil((totalK * bits) / 8));
/** Bytes of a frame with u16 indices given its chunk count, its values and how many of them carry an index. */
export const frameBytes = (chunkCount: number, totalK: number, indexedK: number, bits: ValueBits) =>
  align4(FRAME_HEADER_BYTES + CHUNK_ENTRY_BYTES * chunkCount + 2 * indexedK) + valueBytes(totalK, bits);
/** Bytes of a frame with Rice-coded indices given the length of its index bit stream. */
export const riceFrameBytes = (chunkCount: number, totalK: number, indexBytes: number, bits: ValueBits) =>
  align4(FRAME_HEADER_BYTES + CHUNK_ENTRY_BYTES * chunkCount + 4 + indexBytes) + valueBytes(totalK, bits);

/** Rice parameter for k offsets in a chunk of len: the largest r with 2^r ≤ ⅔·len/k (≈ ln 2 × the mean gap). */
export function riceBits(len: number, k: number): number {
  let r = 0;
  while (r < 16 && 3 * k * 2 ** (r + 1) <= 2 * len) r++;
  return r;
}

/** The Rice bit stream of the chunks' offsets (chunks that are empty or full contribute nothing). */
function riceEncode(chunks: { idx: number[]; len: number }[]): Uint8Array {
  const out: number[] = [];
  let cur = 0;
  let nbits = 0;
  const put = (bit: number) => {
    cur |= bit << nbits;
    if (++nbits === 8) (out.push(cur), (cur = 0), (nbits = 0));
  };
  for (const c of chunks) {
    if (c.idx.length === 0 || c.idx.length === c.len) continue;
    const r = riceBits(c.len, c.idx.length);
    let prev = -1;
    for (const i of c.idx) {
      const g = i - prev - 1;
      prev = i;
      for (let q = g >> r; q > 0; q--) put(1);
      put(0);
      for (let b = 0; b < r; b++) put((g >> b) & 1);
    }
  }
  if (nbits > 0) out.push(cur);
  return Uint8Array.from(out);
}

interface Sparse {
  /** Per chunk: ascending local offsets, their values (q codes, or floats at 32 bits) and the chunk's length. */
  chunks: { idx: number[]; val: number[]; scale: number; len: number }[];
}

function writeFrame(h: Omit<FrameHeader, 'chunkCount' | 'totalK'>, sparse: Sparse): Uint8Array {
  const chunkCount = sparse.chunks.length;
  const totalK = sparse.chunks.reduce((s, c) => s + c.idx.length, 0);
  const rice = h.indexCoding === 'rice' ? riceEncode(sparse.chunks) : null;
  const indexedK = rice ? 0 : sparse.chunks.reduce((s, c) => s + (c.idx.length === c.len ? 0 : c.idx.length), 0);
  const idxStart = FRAME_HEADER_BYTES + CHUNK_ENTRY_BYTES * chunkCount;
  const valStart = rice ? align4(idxStart + 4 + rice.byteLength) : align4(idxStart + 2 * indexedK);
  const bytes = new Uint8Array(rice ? riceFrameBytes(chunkCount, totalK, rice.byteLength, h.bits) : frameBytes(chunkCount, totalK, indexedK, h.bits));
  const dv = new DataView(bytes.buffer);
  writeFrameHeader(bytes, { ...h, chunkCount, totalK });
  if (rice) {
    dv.setUint32(idxStart, rice.byteLength, true);
    bytes.set(rice, idxStart + 4);
  }
  let k = 0;
  let ki = 0;
  const mask = (1 << h.bits) - 1;
  sparse.chunks.forEach((c, ci) => {
    writeChunkEntry(dv, ci, c.idx.length, c.scale);
    const full = rice !== null || c.idx.length === c.len;
    for (let j = 0; j < c.idx.length; j++, k++) {
      if (!full) dv.setUint16(idxStart + 2 * ki++, c.idx[j], true);
      if (h.bits === 32) dv.setFloat32(valStart + 4 * k, c.val[j], true);
      else if (h.bits === 8) dv.setInt8(valStart + k, c.val[j]);
      else {
        const perByte = 8 / h.bits;
        bytes[valStart + Math.floor(k / perByte)] |= (c.val[j] & mask) << (h.bits * (k % perByte));
      }
    }
  });
  return bytes;
}

const align4 = (n: number) => (n + 3) & ~3;

export interface EncodeArgs {
  paramTableHash: Hex;
  run: number;
  round: number;
  samples: number;
}

/**
 * Compress v = Δ + e with chunked top-k and 2/4/8-bit (or fp32) values. Returns the frame
 * and the new residual e' = v − decode(frame), which the caller keeps for the next round.
 */
export function encodeUpdate(v: Float32Array, codec: CodecConfig, args: EncodeArgs): { bytes: Uint8Array; residual: Float32Array } {
  const cfg = codecAtRound(codec, args.round);
  const residual = v.slice();
  const chunks: Sparse['chunks'] = [];
  const bits = cfg.bits;
  for (let start = 0; start < v.length; start += cfg.chunkSize) {
    const len = Math.min(cfg.chunkSize, v.length - start);
    const k = kPerChunk(cfg, len);
    const order = Array.from({ length: len }, (_, i) => i);
    // Largest magnitude first; ties by index so every peer picks the same set.
    order.sort((a, b) => Math.abs(v[start + b]) - Math.abs(v[start + a]) || a - b);
    const idx = order
      .slice(0, k)
      .filter((i) => v[start + i] !== 0)
      .sort((a, b) => a - b);
    let val: number[];
    let scale = 0;
    if (bits === 32) {
      val = idx.map((i) => v[start + i]);
      for (const i of idx) residual[start + i] = 0;
    } else {
      const qmax = qmaxOf(bits);
      if (bits === 2) {
        // Ternary codes would round every kept value below max/2 to zero and waste its
        // index: send sign(x) with the chunk's mean magnitude instead (EF-signSGD style).
        for (const i of idx) scale += Math.abs(v[start + i]);
        scale = idx.length ? Math.fround(scale / idx.length) : 0;
        val = idx.map((i) => (scale === 0 ? 0 : Math.sign(v[start + i])));
      } else {
        for (const i of idx) scale = Math.max(scale, Math.abs(v[start + i]));
        scale = Math.fround(scale / qmax);
        val = idx.map((i) => (scale === 0 ? 0 : Math.max(-qmax, Math.min(qmax, Math.round(v[start + i] / scale)))));
      }
      idx.forEach((i, j) => (residual[start + i] = Math.fround(v[start + i] - Math.fround(val[j] * scale))));
    }
    chunks.push({ idx, val, scale, len });
  }
  const bytes = writeFrame(
    {
      kind: FrameKind.update,
      bits,
      indexCoding: cfg.indexCoding ?? 'u16',
      paramTableHash: args.paramTableHash,
      run: args.run,
      round: args.round,
      samples: args.samples,
      paramCount: v.length,
      chunkSize: cfg.chunkSize,
    },
    { chunks },
  );
  return { bytes, residual };
}

/** Exact (fp32) sparse encoding of a dense vector's nonzeros: used for aggregates and global updates. */
export function encodeAggregate(dense: Float32Array, chunkSize: number, args: EncodeArgs): Uint8Array {
  return writeFrame(
    {
      kind: FrameKind.aggregate,
      bits: 32,
      indexCoding: 'u16',
      paramTableHash: args.paramTableHash,
      run: args.run,
      round: args.round,
      samples: args.samples,
      paramCount: dense.length,
      chunkSize,
    },
    { chunks: sparseChunks(dense, chunkSize) },
  );
}

/** Dense float32 update frame (every value of every chunk, indices implied): the uncompressed baseline. */
export function encodeDenseUpdate(dense: Float32Array, chunkSize: number, args: EncodeArgs): Uint8Array {
  const chunks: Sparse['chunks'] = [];
  for (let start = 0; start < dense.length; start += chunkSize) {
    const len = Math.min(chunkSize, dense.length - start);
    chunks.push({ idx: Array.from({ length: len }, (_, i) => i), val: Array.from(dense.subarray(start, start + len)), scale: 0, len });
  }
  return writeFrame(
    {
      kind: FrameKind.update,
      bits: 32,
      indexCoding: 'u16',
      paramTableHash: args.paramTableHash,
      run: args.run,
      round: args.round,
      samples: args.samples,
      paramCount: dense.length,
      chunkSize,
    },
    { chunks },
  );
}

function sparseChunks(dense: Float32Array, chunkSize: number): Sparse['chunks'] {
  const chunks: Sparse['chunks'] = [];
  for (let start = 0; start < dense.length; start += chunkSize) {
    const len = Math.min(chunkSize, dense.length - start);
    const idx: number[] = [];
    const val: number[] = [];
    for (let i = 0; i < len; i++) if (dense[start + i] !== 0) (idx.push(i), val.push(dense[start + i]));
    chunks.push({ idx, val, scale: 0, len });
  }
  return chunks;
}

function bad(code: 'BAD_FRAME' | 'SCHEMA_MISMATCH' | 'LIMIT_EXCEEDED' | 'WRONG_RUN' | 'STALE_ROUND', msg: string, details?: string): never {
  throw new IdlegradError(code, msg, { details });
}

/** Parse and validate a frame against the receiver's limits. Throws IdlegradError naming the fault. */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits): DecodedFrame {
  if (bytes.byteLength < FRAME_HEADER_BYTES) bad('BAD_FRAME', `frame too short: ${bytes.byteLength} bytes, header needs ${FRAME_HEADER_BYTES}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const raw = readFrameHeader(bytes);
  if (raw.magic !== FRAME_MAGIC) bad('BAD_FRAME', 'frame magic is not "IDLG"');
  const version = raw.version;
  if (!FRAME_VERSIONS.includes(version)) bad('SCHEMA_MISMATCH', `frame version ${version} is not supported (expected ${FRAME_VERSIONS.join(' or ')})`);
  const kind = raw.kind;
  if (kind !== FrameKind.update && kind !== FrameKind.aggregate) bad('BAD_FRAME', `unknown frame kind ${kind}`);
  const bits = raw.bits as ValueBits;
  if (!VALUE_BITS.includes(bits)) bad('BAD_FRAME', `unsupported value width ${bits} bits`);
  if (kind === FrameKind.aggregate && bits !== 32) bad('BAD_FRAME', 'aggregate frames carry float32 values');
  if (kind === FrameKind.update && limits.bits !== undefined && bits !== limits.bits)
    bad('LIMIT_EXCEEDED', `frame carries ${bits}-bit values, the run uses ${limits.bits}`);
  const codingByte = raw.indexCoding;
  if (version === 1 && codingByte !== 0) bad('BAD_FRAME', 'reserved header byte of a version 1 frame is not zero');
  const indexCoding = INDEX_CODINGS[codingByte];
  if (indexCoding === undefined) bad('BAD_FRAME', `unknown index coding ${codingByte}`);
  if (kind === FrameKind.aggregate && indexCoding !== 'u16') bad('BAD_FRAME', 'aggregate frames carry u16 indices');
  if (kind === FrameKind.update && limits.indexCoding !== undefined && indexCoding !== limits.indexCoding) {
    bad('LIMIT_EXCEEDED', `frame carries ${indexCoding} indices, the run uses ${limits.indexCoding}`);
  }
  const rice = indexCoding === 'rice';
  const paramTableHash = raw.paramTableHash;
  if (paramTableHash !== limits.paramTableHash.toLowerCase()) {
    bad('SCHEMA_MISMATCH', 'frame parameter-table hash does not match the run', `frame ${paramTableHash}, run ${limits.paramTableHash}`);
  }
  const run = raw.run;
  if (run !== limits.run) bad('WRONG_RUN', `frame is for run ${run}, expected run ${limits.run}`);
  const round = raw.round;
  if (limits.round !== undefined && round !== limits.round) bad('STALE_ROUND', `frame is for round ${round}, expected round ${limits.round}`);
  const samples = raw.samples;
  if (samples > limits.maxSamples) bad('LIMIT_EXCEEDED', `frame claims ${samples} samples, the run allows at most ${limits.maxSamples}`);
  const paramCount = raw.paramCount;
  if (paramCount !== limits.paramCount) bad('LIMIT_EXCEEDED', `frame paramCount ${paramCount} ≠ model's ${limits.paramCount}`);
  const chunkSize = raw.chunkSize;
  if (chunkSize !== limits.chunkSize) bad('LIMIT_EXCEEDED', `frame chunkSize ${chunkSize} ≠ run's ${limits.chunkSize}`);
  const chunkCount = raw.chunkCount;
  const expectedChunks = Math.ceil(paramCount / chunkSize);
  if (chunkCount !== expectedChunks) bad('LIMIT_EXCEEDED', `frame has ${chunkCount} chunks, the model needs ${expectedChunks}`);
  const totalK = raw.totalK;
  const maxK = kind === FrameKind.update ? limits.maxUpdateK : chunkSize;
  if (totalK > maxK * chunkCount) bad('LIMIT_EXCEEDED', `frame declares ${totalK} values, the run allows at most ${maxK * chunkCount}`);
  const idxStart = FRAME_HEADER_BYTES + CHUNK_ENTRY_BYTES * chunkCount;
  if (bytes.byteLength < idxStart) bad('BAD_FRAME', `frame length ${bytes.byteLength} bytes ends inside its chunk table`);
  // First pass over the chunk table (no allocation): per-chunk limits and the index count.
  let sumK = 0;
  let indexedK = 0;
  for (let c = 0; c < chunkCount; c++) {
    const { k: ck, scale } = readChunkEntry(dv, c);
    const chunkLen = Math.min(chunkSize, paramCount - c * chunkSize);
    if (ck > Math.min(maxK, chunkLen)) bad('LIMIT_EXCEEDED', `chunk ${c} holds ${ck} values, at most ${Math.min(maxK, chunkLen)} allowed`);
    if (!Number.isFinite(scale) || scale < 0) bad('BAD_FRAME', `chunk ${c} has an invalid scale ${scale}`);
    if (bits === 32 && scale !== 0) bad('BAD_FRAME', `chunk ${c}: float32 values carry no scale, got ${scale}`);
    sumK += ck;
    if (ck !== chunkLen) indexedK += ck;
  }
  if (sumK !== totalK) bad('BAD_FRAME', `chunk table sums to ${sumK} values, header says ${totalK}`);
  let indexBytes = 2 * indexedK;
  if (rice) {
    if (bytes.byteLength < idxStart + 4) bad('BAD_FRAME', `frame length ${bytes.byteLength} bytes ends before its index length`);
    indexBytes = dv.getUint32(idxStart, true);
    if (indexBytes > bytes.byteLength) bad('BAD_FRAME', `index stream of ${indexBytes} bytes is longer than the frame`);
  }
  const streamStart = idxStart + (rice ? 4 : 0);
  const valStart = align4(streamStart + indexBytes);
  const expectedLength = rice ? riceFrameBytes(chunkCount, totalK, indexBytes, bits) : frameBytes(chunkCount, totalK, indexedK, bits);
  if (bytes.byteLength !== expectedLength) bad('BAD_FRAME', `frame length ${bytes.byteLength} bytes, its header implies ${expectedLength}`);

  // Lengths are now bounded by the run's limits: allocation is safe.
  const indices = new Uint32Array(totalK);
  const values = new Float32Array(totalK);
  const perByte = bits === 32 ? 0 : 8 / bits;
  const shiftBack = 32 - bits; // sign-extends a packed code
  const qmax = bits === 32 ? 0 : qmaxOf(bits);
  let k = 0;
  let ki = 0;
  // Rice bit reader over [streamStart, streamStart + indexBytes).
  let bitPos = 0;
  const streamBits = 8 * indexBytes;
  const bit = () => {
    if (bitPos >= streamBits) bad('BAD_FRAME', 'index stream ends early');
    const b = (bytes[streamStart + (bitPos >> 3)] >> (bitPos & 7)) & 1;
    bitPos++;
    return b;
  };
  for (let c = 0; c < chunkCount; c++) {
    const { k: ck, scale } = readChunkEntry(dv, c);
    const chunkLen = Math.min(chunkSize, paramCount - c * chunkSize);
    const full = ck === chunkLen;
    const r = riceBits(chunkLen, ck);
    let prev = -1;
    for (let j = 0; j < ck; j++, k++) {
      let local: number;
      if (full) local = j;
      else if (!rice) local = dv.getUint16(idxStart + 2 * ki++, true);
      else {
        let q = 0;
        while (bit() === 1) if (++q > chunkLen >> r) bad('BAD_FRAME', `chunk ${c}: an index gap runs past the chunk`);
        let g = q << r;
        for (let b = 0; b < r; b++) g |= bit() << b;
        local = prev + 1 + g;
      }
      if (local <= prev || local >= chunkLen) bad('BAD_FRAME', `chunk ${c}: index ${local} is out of order or outside the chunk of ${chunkLen}`);
      prev = local;
      indices[k] = c * chunkSize + local;
      let x: number;
      if (bits === 32) x = dv.getFloat32(valStart + 4 * k, true);
      else {
        const q = bits === 8 ? dv.getInt8(valStart + k) : ((bytes[valStart + Math.floor(k / perByte)] >> (bits * (k % perByte))) << shiftBack) >> shiftBack;
        if (q < -qmax) bad('BAD_FRAME', `chunk ${c}: code ${q} is outside [−${qmax}, ${qmax}]`);
        x = Math.fround(q * scale);
      }
      if (!Number.isFinite(x)) bad('BAD_FRAME', `chunk ${c}: value at index ${local} is not finite`);
      values[k] = x;
    }
  }
  const tailBits = bitPos & 7 ? bytes[streamStart + indexBytes - 1] >> (bitPos & 7) : 0;
  if (rice && (indexBytes !== Math.ceil(bitPos / 8) || tailBits !== 0)) {
    bad('BAD_FRAME', `index stream: ${indexBytes} bytes declared, ${bitPos} bits used, the rest must be zero and under a byte`);
  }
  for (let p = streamStart + indexBytes; p < valStart; p++) if (bytes[p] !== 0) bad('BAD_FRAME', 'nonzero padding');
  if (perByte > 0 && totalK % perByte !== 0 && bytes[bytes.byteLength - 1] >> (bits * (totalK % perByte)) !== 0)
    bad('BAD_FRAME', 'nonzero bits after the last value');
  return {
    header: { kind: kind as FrameKind, bits, indexCoding, paramTableHash, run, round, samples, paramCount, chunkSize, chunkCount, totalK },
    indices,
    values,
  };
}

/** Scatter a decoded frame into a dense vector (zeros elsewhere). */
export function toDense(frame: DecodedFrame): Float32Array {
  const out = new Float32Array(frame.header.paramCount);
  for (let i = 0; i < frame.indices.length; i++) out[frame.indices[i]] = frame.values[i];
  return out;
}

/**
 * Upper bound on an aggregate frame (float32 values, u16 indices) holding at most `maxK` values
 * in each chunk (a chunk's length at most): a cohort's aggregate is nonzero only where one of its
 * members' frames was, so a run bounds it by cohortSize × an update's k (shared/round.ts).
 */
export function maxAggregateFrameBytes(paramCount: number, chunkSize: number, maxK: number): number {
  const chunks = Math.ceil(paramCount / chunkSize);
  let k = 0;
  for (let c = 0; c < chunks; c++) k += Math.min(maxK, chunkSize, paramCount - c * chunkSize);
  return frameBytes(chunks, k, k, 32);
}

/** Upper bound on an update frame's size for a run, used as the p2p cap. */
export function maxUpdateFrameBytes(paramCount: number, chunkSize: number, maxK: number, bits: ValueBits, indexCoding: IndexCoding = 'u16'): number {
  const chunks = Math.ceil(paramCount / chunkSize);
  const k = chunks * maxK;
  const u16 = frameBytes(chunks, k, k, bits);
  if (indexCoding === 'u16') return u16;
  // A Rice stream holds, per chunk of ck values, ck·(r + 1) bits plus its unary parts, which
  // sum to at most (len − 1) >> r: the largest over every ck a valid frame may declare.
  let streamBits = 0;
  for (let c = 0; c < chunks; c++) {
    const len = Math.min(chunkSize, paramCount - c * chunkSize);
    let most = 0;
    for (let ck = 1; ck <= Math.min(maxK, len - 1); ck++) {
      const r = riceBits(len, ck);
      most = Math.max(most, ck * (r + 1) + ((len - 1) >> r));
    }
    streamBits += most;
  }
  return Math.max(u16, riceFrameBytes(chunks, k, Math.ceil(streamBits / 8), bits));
}
