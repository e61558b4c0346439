// `npm install`'s postinstall: removes the parts of two large packages that nothing here loads,
// so that the install stays under its 500 MB bar. Each removes nothing when its package is not
// installed (a production install has no onnxruntime-web) or looks different than expected.
//  - `webgpu` (Dawn for Node: the kernel tests and the coordinator's spot-check re-execution)
//    ships dawn.node for five platforms in one package, 134 MB, of which this machine loads one
//    (node_modules/webgpu/index.js picks dist/<platform>-<arch>): the other four go (~110 MB).
//  - `onnxruntime-web` (a devDependency: the playground's build, the bench and the parity check)
//    ships four WebAssembly builds, 86 MB. What loads here: the plain build
//    (ort-wasm-simd-threaded.{mjs,wasm}: the page's `onnxruntime-web/wasm` bundle, and Node's
//    `onnxruntime-web`, ort.node.min.mjs: the parity check and the ONNX tests) and the asyncify
//    build (the bench's `onnxruntime-web/webgpu`). The JSEP and JSPI builds go (46 MB).
import { existsSync, readdirSync, rmSync } from 'node:fs';

const modules = new URL('../../node_modules/', import.meta.url);

const dawn = new URL('webgpu/dist/', modules);
const mine = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
if (existsSync(dawn)) {
  const builds = readdirSync(dawn, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  if (!builds.includes(mine)) console.warn(`prune-install: node_modules/webgpu has no build for ${mine} (it has ${builds.join(', ')}); nothing removed`);
  else for (const b of builds) if (b !== mine) rmSync(new URL(`${b}/`, dawn), { recursive: true, force: true });
}

const ort = new URL('onnxruntime-web/dist/', modules);
const ORT_KEPT = ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.asyncify.wasm'];
if (existsSync(ort)) {
  const files = readdirSync(ort);
  if (!ORT_KEPT.every((f) => files.includes(f)))
    console.warn(`prune-install: node_modules/onnxruntime-web/dist lacks ${ORT_KEPT.filter((f) => !files.includes(f)).join(', ')}; nothing removed`);
  else for (const f of files) if (/^ort-wasm-simd-threaded\.(jsep|jspi)\.(wasm|mjs)$/.test(f)) rmSync(new URL(f, ort));
}
