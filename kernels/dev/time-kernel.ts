// dev: wall ms of one kernel's dispatch in isolation (the profile-* scripts): buffers of the given
// float counts per binding (≥ 256 bytes), one warm-up, then `reps` dispatches in one pass ended by
// a 4-byte readback. Dynamically offset bindings are bound at offset 0 with `dynamicBytes`.
import { createBindGroup, encodeDispatch, readBuffer, type Kernel } from '../kernel.ts';
import type { PipelineCache } from '../pipeline-cache.ts';

export async function timeKernel(cache: PipelineCache, kernel: Kernel, floats: (binding: string) => number, reps: number, dynamicBytes = 4): Promise<number> {
  const device = cache.device;
  const bufs: Record<string, GPUBuffer> = {};
  for (const b of kernel.bindings) {
    const usage = (b.kind === 'uniform' ? GPUBufferUsage.UNIFORM : GPUBufferUsage.STORAGE) | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    bufs[b.name] = device.createBuffer({ size: Math.max(256, floats(b.name) * 4), usage });
  }
  const group = createBindGroup(
    device,
    kernel,
    Object.fromEntries(kernel.bindings.map((b) => [b.name, b.dynamicOffset ? { buffer: bufs[b.name], size: dynamicBytes } : bufs[b.name]])),
  );
  const offsets = kernel.bindings.some((b) => b.dynamicOffset) ? kernel.bindings.filter((b) => b.dynamicOffset).map(() => 0) : undefined;
  await cache.ready();
  const run = async (n: number) => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    for (let i = 0; i < n; i++) encodeDispatch(pass, kernel, group, offsets);
    pass.end();
    device.queue.submit([enc.finish()]);
    await readBuffer(device, bufs[kernel.bindings[0].name], 0, 4);
  };
  try {
    await run(1);
    const t0 = performance.now();
    await run(reps);
    return (performance.now() - t0) / reps;
  } finally {
    Object.values(bufs).forEach((b) => b.destroy());
  }
}
