// A small, dependency-free ONNX writer: enough of the protobuf wire format to emit a
// ModelProto (ir_version, opset_import, one graph of nodes, float/int64 initializers as
// raw_data, typed inputs/outputs with static or named dimensions).
//
// Field numbers follow onnx/onnx.proto (ONNX 1.13+, IR version 8, default opset 17, the
// first with LayerNormalization). Only what a graph needs is encoded; everything else is
// left at its protobuf default. Messages are built bottom-up: each sub-message is encoded
// to bytes first and then embedded with its length, so no pass over sizes is needed.
//
// Builders here: `matmulOnnxModel` (one MatMul, used by the ONNX Runtime Web benchmark —
// keep its signature stable) and `exportMlpOnnx` (the MNIST MLP from shared/model.ts).
// A transformer export adds nodes through the same `OnnxGraph` description.
import { LN_EPS } from './gpt.ts';
import type { GptSpec, MlpSpec, ModelSpec } from './model.ts';

/** TensorProto.DataType values used here. */
export const OnnxDataType = { float: 1, int32: 6, int64: 7, bool: 9 } as const;
export type OnnxElemType = keyof typeof OnnxDataType;

/** An initializer (or a tensor-valued attribute). int64 data is given as plain numbers. */
export type OnnxTensor =
  | { name: string; dims: number[]; type: 'float'; data: Float32Array }
  | { name: string; dims: number[]; type: 'int32'; data: Int32Array }
  | { name: string; dims: number[]; type: 'int64'; data: ArrayLike<number> }
  | { name: string; dims: number[]; type: 'bool'; data: ArrayLike<boolean> };

/** A node attribute, tagged by its AttributeProto type. */
export type OnnxAttribute = { int: number } | { float: number } | { ints: number[] } | { floats: number[] } | { string: string } | { tensor: OnnxTensor };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attrs?: Record<string, OnnxAttribute>;
  /** Operator domain; '' (the default ONNX domain) unless set. */
  domain?: string;
}

/** A graph input or output: element type and shape; a string dimension is symbolic ("batch"). */
export interface OnnxValueInfo {
  name: string;
  type: OnnxElemType;
  shape: (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

export interface OnnxModelOptions {
  /** Default opset version (17: LayerNormalization; Gelu would need 20). */
  opset?: number;
  /** ModelProto.ir_version (8 pairs with opset 17). */
  irVersion?: number;
  producer?: string;
  doc?: string;
}

// --- protobuf wire format -------------------------------------------------------------

const VARINT = 0;
const FIXED32 = 5;
const LEN = 2;

/** Append-only byte sink with the few primitives protobuf needs. */
class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];
  length = 0;

  private flushScratch() {
    if (!this.scratch.length) return;
    const b = Uint8Array.from(this.scratch);
    this.chunks.push(b);
    this.length += b.length;
    this.scratch = [];
  }

  /** Unsigned or negative (two's complement, 10 bytes) varint for int32/int64 fields. */
  private varint(v: number) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`onnx: varint ${v} is not a safe integer`);
    if (v < 0) {
      let x = BigInt.asUintN(64, BigInt(v));
      while (x >= 0x80n) {
        this.scratch.push(Number(x & 0x7fn) | 0x80);
        x >>= 7n;
      }
      this.scratch.push(Number(x));
      return;
    }
    while (v >= 0x80) {
      this.scratch.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.scratch.push(v);
  }

  private key(field: number, wire: number) {
    this.varint(field * 8 + wire);
  }

  int(field: number, v: number) {
    this.key(field, VARINT);
    this.varint(v);
  }

  float(field: number, v: number) {
    this.key(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.scratch.push(...b);
  }

  bytes(field: number, b: Uint8Array) {
    this.key(field, LEN);
    this.varint(b.length);
    this.flushScratch();
    this.chunks.push(b);
    this.length += b.length;
  }

  string(field: number, s: string) {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, w: ProtoWriter) {
    this.bytes(field, w.finish());
  }

  finish(): Uint8Array {
    this.flushScratch();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// --- ONNX messages (field numbers from onnx.proto) ------------------------------------

function rawData(t: OnnxTensor): Uint8Array {
  const n = t.data.length;
  const count = t.dims.reduce((a, d) => a * d, 1);
  if (n !== count) throw new RangeError(`onnx: tensor "${t.name}" has ${n} values for dims [${t.dims.join(', ')}] (${count})`);
  switch (t.type) {
    case 'float': {
      const out = new Uint8Array(n * 4);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) dv.setFloat32(i * 4, t.data[i], true);
      return out;
    }
    case 'int32': {
      const out = new Uint8Array(n * 4);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) dv.setInt32(i * 4, t.data[i], true);
      return out;
    }
    case 'int64': {
      const out = new Uint8Array(n * 8);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) dv.setBigInt64(i * 8, BigInt(t.data[i]), true);
      return out;
    }
    case 'bool':
      return Uint8Array.from({ length: n }, (_, i) => (t.data[i] ? 1 : 0));
  }
}

function tensorProto(t: OnnxTensor): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d); // dims
  w.int(2, OnnxDataType[t.type]); // data_type
  w.string(8, t.name); // name
  w.bytes(9, rawData(t)); // raw_data
  return w;
}

function attributeProto(name: string, a: OnnxAttribute): ProtoWriter {
  const w = new ProtoWriter();
  w.string(1, name);
  // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7
  if ('float' in a) {
    w.float(2, a.float);
    w.int(20, 1);
  } else if ('int' in a) {
    w.int(3, a.int);
    w.int(20, 2);
  } else if ('string' in a) {
    w.string(4, a.string);
    w.int(20, 3);
  } else if ('tensor' in a) {
    w.message(5, tensorProto(a.tensor));
    w.int(20, 4);
  } else if ('floats' in a) {
    for (const f of a.floats) w.float(7, f);
    w.int(20, 6);
  } else {
    for (const i of a.ints) w.int(8, i);
    w.int(20, 7);
  }
  return w;
}

function nodeProto(n: OnnxNode, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name ?? `${n.op}_${index}`);
  w.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs ?? {})) w.message(5, attributeProto(k, a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function valueInfoProto(v: OnnxValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) {
    const dim = new ProtoWriter();
    if (typeof d === 'number')
      dim.int(1, d); // dim_value
    else dim.string(2, d); // dim_param
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter();
  tensorType.int(1, OnnxDataType[v.type]); // elem_type
  tensorType.message(2, shape);
  const type = new ProtoWriter();
  type.message(1, tensorType); // TypeProto.tensor_type
  const w = new ProtoWriter();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

/** Checks that every node input is produced before use (graph inputs, initializers, earlier outputs). */
function checkTopology(g: OnnxGraph) {
  const known = new Set<string>(['', ...g.inputs.map((i) => i.name), ...g.initializers.map((t) => t.name)]);
  g.nodes.forEach((n, i) => {
    for (const input of n.inputs) {
      if (!known.has(input)) throw new Error(`onnx: node ${i} (${n.op}) reads "${input}" before anything produces it`);
    }
    for (const o of n.outputs) known.add(o);
  });
  for (const o of g.outputs) if (!known.has(o.name)) throw new Error(`onnx: graph output "${o.name}" is never produced`);
}

/** Serialises a graph as an ONNX ModelProto. */
export function encodeOnnxModel(g: OnnxGraph, opts: OnnxModelOptions = {}): Uint8Array {
  checkTopology(g);
  const graph = new ProtoWriter();
  g.nodes.forEach((n, i) => graph.message(1, nodeProto(n, i)));
  graph.string(2, g.name);
  for (const t of g.initializers) graph.message(5, tensorProto(t));
  for (const v of g.inputs) graph.message(11, valueInfoProto(v));
  for (const v of g.outputs) graph.message(12, valueInfoProto(v));

  const opset = new ProtoWriter();
  opset.string(1, ''); // default domain
  opset.int(2, opts.opset ?? 17);

  const model = new ProtoWriter();
  model.int(1, opts.irVersion ?? 8);
  model.string(2, opts.producer ?? 'idlegrad');
  if (opts.doc) model.string(6, opts.doc);
  model.message(7, graph);
  model.message(8, opset);
  return model.finish();
}

// --- builders ---------------------------------------------------------------------------

/** C = A · B with inputs A (M, K), B (K, N) and output C (M, N), all float32. Stable API. */
export function matmulOnnxModel(M: number, K: number, N: number): Uint8Array {
  return encodeOnnxModel({
    name: `matmul_${M}x${K}x${N}`,
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['C'] }],
    initializers: [],
    inputs: [
      { name: 'A', type: 'float', shape: [M, K] },
      { name: 'B', type: 'float', shape: [K, N] },
    ],
    outputs: [{ name: 'C', type: 'float', shape: [M, N] }],
  });
}

/**
 * The MLP of shared/model.ts as ONNX: input "x" (batch, sizes[0]) with pixels in [0, 1],
 * output "logits" (batch, sizes[L]); per layer MatMul with w_l (in, out), Add b_l, ReLU
 * between layers — the same function as shared/mlp.ts mlpForward.
 */
export function exportMlpOnnx(spec: MlpSpec, params: Float32Array): Uint8Array {
  if (params.length !== spec.paramCount) {
    throw new RangeError(`exportMlpOnnx: ${params.length} parameters for a model of ${spec.paramCount}`);
  }
  const L = spec.sizes.length - 1;
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = spec.tensors.map((t) => ({
    name: t.name,
    dims: t.shape,
    type: 'float',
    data: params.subarray(t.offset, t.offset + t.size),
  }));
  let h = 'x';
  for (let l = 0; l < L; l++) {
    const last = l + 1 === L;
    nodes.push({ op: 'MatMul', inputs: [h, `w${l}`], outputs: [`mm${l}`] });
    nodes.push({ op: 'Add', inputs: [`mm${l}`, `b${l}`], outputs: [last ? 'logits' : `z${l}`] });
    if (!last) nodes.push({ op: 'Relu', inputs: [`z${l}`], outputs: [`h${l + 1}`] });
    h = `h${l + 1}`;
  }
  return encodeOnnxModel(
    {
      name: `idlegrad_mlp_${spec.sizes.join('x')}`,
      nodes,
      initializers,
      inputs: [{ name: 'x', type: 'float', shape: ['batch', spec.sizes[0]] }],
      outputs: [{ name: 'logits', type: 'float', shape: ['batch', spec.sizes[L]] }],
    },
    { doc: 'idlegrad MLP: x (batch, features) in [0,1] -> logits (batch, classes)' },
  );
}

/**
 * The GPT preset (shared/model.ts gptSpec: pre-layernorm, (in, out) matrices, qkv without
 * bias, untied head) as ONNX (opset 17): input "tokens" int64 (batch, seq) with seq ≤ context, output
 * "logits" (batch, seq, vocab). Token + position embedding (Gather), per layer
 * LayerNormalization → qkv MatMul → causal softmax attention (scale 1/√hs, −∞ above the
 * diagonal) → projection, residual; LayerNormalization → fc → GELU (tanh form, as GPT-2 and
 * our kernels) → out, residual; final LayerNormalization and head MatMul.
 */
export function exportGptOnnx(spec: GptSpec, params: Float32Array): Uint8Array {
  if (params.length !== spec.paramCount) throw new RangeError(`exportGptOnnx: ${params.length} parameters for a model of ${spec.paramCount}`);
  const { vocab, context, width: C, layers, heads } = spec.dims;
  if (C % heads !== 0) throw new RangeError(`exportGptOnnx: width ${C} is not a multiple of heads ${heads}`);
  const hs = C / heads;
  const initializers: OnnxTensor[] = spec.tensors.map((t) => ({
    name: t.name,
    dims: t.shape,
    type: 'float',
    data: params.subarray(t.offset, t.offset + t.size),
  }));
  const scalar = (name: string, v: number): OnnxTensor => ({ name, dims: [], type: 'float', data: Float32Array.of(v) });
  const ints = (name: string, v: number[]): OnnxTensor => ({ name, dims: [v.length], type: 'int64', data: v });
  // Causal mask for the longest sequence; sliced to (seq, seq) at run time.
  const mask = new Float32Array(context * context);
  for (let i = 0; i < context; i++) for (let j = i + 1; j < context; j++) mask[i * context + j] = -Infinity;
  initializers.push(
    { name: 'causal_mask', dims: [context, context], type: 'float', data: mask },
    scalar('att_scale', 1 / Math.sqrt(hs)),
    scalar('gelu_half', 0.5),
    scalar('gelu_one', 1),
    scalar('gelu_cubic', 0.044715),
    scalar('gelu_k', Math.sqrt(2 / Math.PI)),
    ints('i_zero', [0]),
    ints('i_one', [1]),
    ints('i_two', [2]),
    ints('i_zero2', [0, 0]),
    { name: 's_zero', dims: [], type: 'int64', data: [0] },
    { name: 's_one', dims: [], type: 'int64', data: [1] },
    ints('qkv_split', [C, C, C]),
    ints('heads_shape', [0, 0, heads, hs]),
    ints('merge_shape', [0, 0, C]),
  );
  if (spec.tensors.some((t) => /\.qkv\.b$/.test(t.name)))
    throw new Error('exportGptOnnx: the parameter table has a qkv bias; the GPT preset has none (shared/model.ts gptSpec)');
  for (const name of ['wte', 'wpe', 'lnf.g', 'lnf.b', 'head.w'])
    if (!spec.tensors.some((t) => t.name === name)) throw new Error(`exportGptOnnx: the parameter table has no "${name}"`);

  const nodes: OnnxNode[] = [];
  const node = (op: string, inputs: string[], output: string, attrs?: Record<string, OnnxAttribute>) => {
    nodes.push({ op, inputs, outputs: [output], attrs });
    return output;
  };
  // seq as a 1-D [T] and a scalar; positions 0 … T−1; the (T, T) corner of the mask.
  const shape = node('Shape', ['tokens'], 'tokens_shape');
  const seq = node('Slice', [shape, 'i_one', 'i_two'], 'seq');
  const seqScalar = node('Squeeze', [seq, 'i_zero'], 'seq_scalar');
  const positions = node('Range', ['s_zero', seqScalar, 's_one'], 'positions');
  const seq2 = node('Concat', [seq, seq], 'seq2', { axis: { int: 0 } });
  const causal = node('Slice', ['causal_mask', 'i_zero2', seq2], 'causal');
  const tokEmb = node('Gather', ['wte', 'tokens'], 'tok_emb', { axis: { int: 0 } });
  const posEmb = node('Gather', ['wpe', positions], 'pos_emb', { axis: { int: 0 } });
  let x = node('Add', [tokEmb, posEmb], 'x0');
  const layerNorm = (input: string, g: string, b: string, out: string) =>
    node('LayerNormalization', [input, g, b], out, { axis: { int: -1 }, epsilon: { float: LN_EPS } });
  const linear = (input: string, w: string, b: string | null, out: string) => {
    const mm = node('MatMul', [input, w], b ? `${out}.mm` : out);
    return b ? node('Add', [mm, b], out) : mm;
  };
  for (let l = 0; l < layers; l++) {
    const p = `h${l}.`;
    const ln1 = layerNorm(x, `${p}ln1.g`, `${p}ln1.b`, `${p}ln1`);
    const qkv = linear(ln1, `${p}qkv.w`, null, `${p}qkv`);
    nodes.push({ op: 'Split', inputs: [qkv, 'qkv_split'], outputs: [`${p}q`, `${p}k`, `${p}v`], attrs: { axis: { int: -1 } } });
    // (B, T, C) → (B, NH, T, hs); k as (B, NH, hs, T)
    const heads4 = (t: string, perm: number[]) =>
      node('Transpose', [node('Reshape', [`${p}${t}`, 'heads_shape'], `${p}${t}.4d`)], `${p}${t}.h`, { perm: { ints: perm } });
    const q = heads4('q', [0, 2, 1, 3]);
    const kT = heads4('k', [0, 2, 3, 1]);
    const v = heads4('v', [0, 2, 1, 3]);
    const scores = node('Add', [node('Mul', [node('MatMul', [q, kT], `${p}qk`), 'att_scale'], `${p}qk.scaled`), causal], `${p}scores`);
    const att = node('Softmax', [scores], `${p}att`, { axis: { int: -1 } });
    const y = node(
      'Reshape',
      [node('Transpose', [node('MatMul', [att, v], `${p}attv`)], `${p}attv.t`, { perm: { ints: [0, 2, 1, 3] } }), 'merge_shape'],
      `${p}attn`,
    );
    x = node('Add', [x, linear(y, `${p}proj.w`, `${p}proj.b`, `${p}proj`)], `${p}x1`);
    const ln2 = layerNorm(x, `${p}ln2.g`, `${p}ln2.b`, `${p}ln2`);
    const u = linear(ln2, `${p}fc.w`, `${p}fc.b`, `${p}fc`);
    // GELU, tanh form: 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³)))
    const u3 = node('Mul', [node('Mul', [u, u], `${p}u2`), u], `${p}u3`);
    const inner = node('Mul', [node('Add', [u, node('Mul', [u3, 'gelu_cubic'], `${p}cu3`)], `${p}poly`), 'gelu_k'], `${p}inner`);
    const gate = node('Add', [node('Tanh', [inner], `${p}tanh`), 'gelu_one'], `${p}gate`);
    const act = node('Mul', [node('Mul', [u, gate], `${p}ugate`), 'gelu_half'], `${p}gelu`);
    x = node('Add', [x, linear(act, `${p}out.w`, `${p}out.b`, `${p}out`)], `${p}x2`);
  }
  const lnf = layerNorm(x, 'lnf.g', 'lnf.b', 'lnf');
  linear(lnf, 'head.w', null, 'logits');
  return encodeOnnxModel(
    {
      name: `idlegrad_gpt_${layers}x${C}`,
      nodes,
      initializers,
      inputs: [{ name: 'tokens', type: 'int64', shape: ['batch', 'seq'] }],
      outputs: [{ name: 'logits', type: 'float', shape: ['batch', 'seq', vocab] }],
    },
    { doc: `idlegrad GPT: tokens (batch, seq ≤ ${context}) int64 -> logits (batch, seq, ${vocab})` },
  );
}

/** The current model of either preset as ONNX. */
export function exportModelOnnx(spec: ModelSpec, params: Float32Array): Uint8Array {
  return spec.preset === 'gpt' ? exportGptOnnx(spec, params) : exportMlpOnnx(spec, params);
}
