// The narrow interface every op spec returns: a cached pipeline, its bind-group layout, the
// names of its bindings and the dispatch grid. Op specs (matmul/matmul.ts, …) own the numbers;
// this file owns the plumbing that is the same for all of them.
import { withErrorScope } from './device.ts';
import type { BindingSpec, PipelineCache, PipelineRequest } from './pipeline-cache.ts';

export interface Kernel<Name extends string = string> {
  label: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: readonly BindingSpec<Name>[];
  /** Workgroups to dispatch, (x, y, z). */
  workgroups: readonly [number, number, number];
}

export function buildKernel<Name extends string>(
  cache: PipelineCache,
  req: PipelineRequest<Name>,
  workgroups: readonly [number, number, number],
): Kernel<Name> {
  const max = cache.device.limits.maxComputeWorkgroupsPerDimension;
  if (workgroups.some((n) => n > max || n < 1 || !Number.isInteger(n))) {
    throw new RangeError(`${req.label}: dispatch grid [${workgroups.join(', ')}] outside 1..${max} per dimension`);
  }
  const { pipeline, layout } = cache.get(req);
  return { label: req.label, pipeline, layout, bindings: req.bindings, workgroups };
}

/**
 * A grid of `count` invocations in workgroups of `size`, spilling into y when x would exceed
 * the per-dimension limit. Shaders recover the flat index as
 * `gid.x + gid.y * nwg.x * WG` (global_invocation_id, num_workgroups).
 */
export function grid1d(count: number, size: number, maxPerDimension = 65535): [number, number, number] {
  const groups = Math.max(1, Math.ceil(count / size));
  if (groups <= maxPerDimension) return [groups, 1, 1];
  const y = Math.ceil(groups / maxPerDimension);
  return [Math.ceil(groups / y), y, 1];
}

export type KernelResources<Name extends string> = Record<Name, GPUBuffer | GPUBufferBinding>;

export function createBindGroup<Name extends string>(device: GPUDevice, kernel: Kernel<Name>, resources: KernelResources<Name>): GPUBindGroup {
  return device.createBindGroup({
    label: kernel.label,
    layout: kernel.layout,
    entries: kernel.bindings.map((b) => {
      const r = resources[b.name] as GPUBuffer | GPUBufferBinding | undefined;
      if (!r) throw new Error(`${kernel.label}: no buffer for binding "${b.name}"`);
      return { binding: b.binding, resource: isBufferBinding(r) ? r : { buffer: r } };
    }),
  });
}

function isBufferBinding(r: GPUBuffer | GPUBufferBinding): r is GPUBufferBinding {
  return 'buffer' in r;
}

export function encodeDispatch(pass: GPUComputePassEncoder, kernel: Kernel, group: GPUBindGroup, dynamicOffsets?: number[]): void {
  pass.setPipeline(kernel.pipeline);
  pass.setBindGroup(0, group, dynamicOffsets);
  pass.dispatchWorkgroups(...kernel.workgroups);
}

/**
 * The value of `const NAME = <integer>u;` in WGSL source: numbers that are structural to a
 * shader (a vec4 accumulator's width) are declared there once and read here, not retyped.
 */
export function wgslConst(source: string, name: string): number {
  const m = new RegExp(`\\bconst\\s+${name}\\s*(?::\\s*[iu]32\\s*)?=\\s*(\\d+)[iu]?\\s*;`).exec(source);
  if (!m) throw new Error(`WGSL source declares no integer const ${name}`);
  return Number(m[1]);
}

export function alignTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Copies `size` bytes of `src` from `offset` to the host: one staging buffer, one map. */
export async function readBuffer(device: GPUDevice, src: GPUBuffer, offset = 0, size = src.size - offset): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = device.createCommandEncoder({ label: 'readback' });
    enc.copyBufferToBuffer(src, offset, staging, 0, size);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    return copy;
  } finally {
    staging.destroy();
  }
}

/** Bytes for a buffer input: typed data is uploaded, a number allocates that many zero bytes. */
export type BufferInit = ArrayBufferView | number;

/**
 * Eager one-shot execution for tests, validators and small tools: create the buffers, run one
 * dispatch inside error scopes, read back the listed bindings. Not for hot loops.
 */
export async function runOnce<Name extends string>(
  cache: PipelineCache,
  kernel: Kernel<Name>,
  inputs: Record<Name, BufferInit>,
  read: readonly Name[],
): Promise<Record<Name, ArrayBuffer>> {
  const device = cache.device;
  await cache.ready();
  const buffers = {} as Record<Name, GPUBuffer>;
  try {
    await withErrorScope(device, `running ${kernel.label}`, () => {
      for (const b of kernel.bindings) {
        const init = inputs[b.name];
        const bytes = typeof init === 'number' ? init : init.byteLength;
        const usage = (b.kind === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE) | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
        const buf = device.createBuffer({ label: `${kernel.label}.${b.name}`, size: alignTo(Math.max(bytes, 4), 4), usage });
        if (typeof init !== 'number') writePadded(device, buf, 0, init);
        buffers[b.name] = buf;
      }
      const enc = device.createCommandEncoder({ label: kernel.label });
      const pass = enc.beginComputePass({ label: kernel.label });
      const offsets = kernel.bindings.filter((b) => b.dynamicOffset).map(() => 0);
      encodeDispatch(pass, kernel, createBindGroup(device, kernel, buffers), offsets);
      pass.end();
      device.queue.submit([enc.finish()]);
    });
    const result = {} as Record<Name, ArrayBuffer>;
    for (const name of read) result[name] = await readBuffer(device, buffers[name]);
    return result;
  } finally {
    for (const b of Object.values(buffers) as GPUBuffer[]) b.destroy();
  }
}

/** queue.writeBuffer needs a multiple of 4 bytes: byte data (u8 pixels, labels) is zero-padded. */
export function writePadded(device: GPUDevice, dst: GPUBuffer, dstOffset: number, data: ArrayBufferView): void {
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 !== 0) {
    const padded = new Uint8Array(alignTo(bytes.byteLength, 4));
    padded.set(bytes);
    bytes = padded;
  }
  device.queue.writeBuffer(dst, dstOffset, bytes as Uint8Array<ArrayBuffer>);
}
