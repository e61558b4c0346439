// The CPU reference's matrix product as a WebAssembly SIMD kernel, assembled here from its
// opcodes (507 bytes; no build step, no binary file). It sums exactly as the naive loop does:
// each output is start + a₀b₀ + a₁b₁ + … in float64, k ascending. The f64x2 lanes run across
// outputs (two neighbouring columns of B), never across k, and WebAssembly's f64 mul and add are
// IEEE-754 operations as JavaScript's are (no fused multiply-add), so the results equal
// matmulNT's and the plain triple loop's to the bit (shared/cpu-matmul.test.ts).
//
// Layout in the module's memory, all float64, row-major: out (M, N), a (M, K), b (K, N).
// `mm(outP, aP, bP, M, N, K, M2, N8)` updates the block m < M2, n < N8 (M2 even, N8 a multiple
// of 8) in place: 2 rows × 8 columns a pass, kept in eight f64x2 registers over the whole k loop,
// so each loaded value of B is used twice and each of A eight times. The caller does the edges.
//
// Measured (512 × 256 × 64, the GPT's fc layer at batch 8; 2026-12-06, shared 2-core machine at
// load ~10, nice 19): 2.16 GMAC/s against 0.35 for matmulNT's scalar 2 × 4 blocks in the same run.

const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
};
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const name = (s: string) => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// Opcodes (WebAssembly core 2.0 and its SIMD proposal, merged into 2.0).
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32 = (v: number) => [0x41, ...sleb(v)];
const [ADD, SUB, MUL, SHL, GE_U, EQZ] = [0x6a, 0x6b, 0x6c, 0x74, 0x4f, 0x45];
const [BLOCK, LOOP, BR, BR_IF, END, VOID] = [0x02, 0x03, 0x0c, 0x0d, 0x0b, 0x40];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
// memarg: alignment hint 2³ (float64 data; unaligned v128 access is allowed), byte offset.
const v128Load = (off: number) => simd(0, 3, ...uleb(off));
const v128Store = (off: number) => simd(11, 3, ...uleb(off));
const f64Load = (off: number) => [0x2b, 3, ...uleb(off)];
const [SPLAT, FADD, FMUL] = [simd(20), simd(240), simd(242)];
const times8 = [...i32(3), SHL];
/** while (!exit) body — `exit` leaves a truthy i32 to break on. */
const loop = (exit: number[], body: number[]) => [BLOCK, VOID, LOOP, VOID, ...exit, BR_IF, 1, ...body, BR, 0, END, END];

// Parameters, then locals: i32 (7 … 16), v128 (17 … 27).
const [outP, aP, bP, M, N, K, M2, N8] = [0, 1, 2, 3, 4, 5, 6, 7];
const [m, n, k, pa0, pa1, pb, po0, po1, rowB] = [8, 9, 10, 11, 12, 13, 14, 15, 16];
const S = [17, 18, 19, 20, 21, 22, 23, 24]; // out rows m and m + 1, columns n … n + 7 in pairs
const [x0, x1, y] = [25, 26, 27];
const cols = [0, 1, 2, 3];

// One op or op group a line where it reads as assembly (prettier would put each byte on its own).

// prettier-ignore
const kLoop = loop(
  [...get(k), EQZ],
  [
    ...get(pa0), ...f64Load(0), ...SPLAT, ...set(x0),
    ...get(pa1), ...f64Load(0), ...SPLAT, ...set(x1),
    ...cols.flatMap((j) => [
      ...get(pb), ...v128Load(16 * j), ...set(y),
      ...get(S[j]), ...get(x0), ...get(y), ...FMUL, ...FADD, ...set(S[j]),
      ...get(S[4 + j]), ...get(x1), ...get(y), ...FMUL, ...FADD, ...set(S[4 + j]),
    ]),
    ...get(pa0), ...i32(8), ADD, ...set(pa0),
    ...get(pa1), ...i32(8), ADD, ...set(pa1),
    ...get(pb), ...get(rowB), ADD, ...set(pb),
    ...get(k), ...i32(1), SUB, ...set(k),
  ],
);
// prettier-ignore
const nLoop = loop(
  [...get(n), ...get(N8), GE_U],
  [
    ...get(outP), ...get(m), ...get(N), MUL, ...get(n), ADD, ...times8, ADD, ...set(po0),
    ...get(po0), ...get(rowB), ADD, ...set(po1),
    ...cols.flatMap((j) => [...get(po0), ...v128Load(16 * j), ...set(S[j]), ...get(po1), ...v128Load(16 * j), ...set(S[4 + j])]),
    ...get(aP), ...get(m), ...get(K), MUL, ...times8, ADD, ...set(pa0),
    ...get(pa0), ...get(K), ...times8, ADD, ...set(pa1),
    ...get(bP), ...get(n), ...times8, ADD, ...set(pb),
    ...get(K), ...set(k),
    ...kLoop,
    ...cols.flatMap((j) => [...get(po0), ...get(S[j]), ...v128Store(16 * j), ...get(po1), ...get(S[4 + j]), ...v128Store(16 * j)]),
    ...get(n), ...i32(8), ADD, ...set(n),
  ],
);
// prettier-ignore
const mmBody = [
  ...get(N), ...times8, ...set(rowB),
  ...i32(0), ...set(m),
  ...loop([...get(m), ...get(M2), GE_U], [...i32(0), ...set(n), ...nLoop, ...get(m), ...i32(2), ADD, ...set(m)]),
  END,
];
const [I32, V128, FUNC] = [0x7f, 0x7b, 0x60];
const mmCode = [
  ...vec([
    [...uleb(9), I32],
    [...uleb(11), V128],
  ]),
  ...mmBody,
];

/** The module: `mm` (function 0) and `mem` (memory 0, one 64 KiB page to start). */
export const MATMUL_WASM = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
  ...section(1, vec([[FUNC, ...vec(Array.from({ length: 8 }, () => [I32])), 0]])),
  ...section(3, vec([[0]])),
  ...section(5, vec([[0, 1]])),
  ...section(
    7,
    vec([
      [...name('mm'), 0, 0],
      [...name('mem'), 2, 0],
    ]),
  ),
  ...section(10, vec([[...uleb(mmCode.length), ...mmCode]])),
]);

export interface WasmMatmul {
  /** The block m < M2, n < N8 of out += a · b at byte addresses in `memory` (see the header). */
  mm(outP: number, aP: number, bP: number, M: number, N: number, K: number, M2: number, N8: number): void;
  memory: WebAssembly.Memory;
}

/**
 * The kernel, or null where WebAssembly SIMD is missing or compiling is refused (a page whose
 * Content-Security-Policy lacks 'wasm-unsafe-eval'): the caller then runs the JavaScript loops,
 * which give the same bits.
 */
export function instantiateMatmulWasm(): WasmMatmul | null {
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(MATMUL_WASM)) return null;
  try {
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(MATMUL_WASM));
    return { mm: exports.mm as WasmMatmul['mm'], memory: exports.mem as WebAssembly.Memory };
  } catch {
    return null;
  }
}
