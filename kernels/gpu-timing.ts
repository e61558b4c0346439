// Wall time of GPU work as the autotunes measure it: encode, submit, wait for the queue to drain
// (onSubmittedWorkDone, no readback); one warm-up run, then the median of `reps`.

export async function medianGpuMs(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void, reps: number): Promise<number> {
  const once = async () => {
    const enc = device.createCommandEncoder({ label: 'tune' });
    const pass = enc.beginComputePass({ label: 'tune' });
    encode(pass);
    pass.end();
    const t0 = performance.now();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - t0;
  };
  await once();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) ms.push(await once());
  return ms.sort((x, y) => x - y)[reps >> 1];
}
