// WebGPU in Node through Dawn (the `webgpu` package): the validator and the kernel tests.
// Node-only; never imported by the browser bundle (it is not exported from index.ts).
import { create, globals } from 'webgpu';

export interface NodeGpuOptions {
  /** Dawn toggles, e.g. ['enable-dawn-features=allow_unsafe_apis']. */
  dawnOptions?: string[];
}

// Dawn tears its instance down when the JS `GPU` object is garbage-collected, even while
// devices made from it are alive; that corrupted memory here (random aborts in SwiftShader's
// mutexes). Instances are therefore pinned for the life of the process.
const pinned: GPU[] = [];

/** Installs the WebGPU globals (GPUBufferUsage, …) and returns a `GPU` for acquireDevice(). */
export function createNodeGpu(opts: NodeGpuOptions = {}): GPU {
  Object.assign(globalThis, globals);
  const gpu = create(opts.dawnOptions ?? []);
  pinned.push(gpu);
  return gpu;
}
