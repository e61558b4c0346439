// dev: the CPU time this process spends on GPU work (Node/Dawn on SwiftShader runs the shaders on
// threads of this process), per run: median of `reps` after one warm-up. On a machine shared with
// other work, wall time swings by 2× between runs; CPU time stays within a few percent, so the dev
// benches compare variants by it. Meaningless on a real GPU (use wall time there).

export async function cpuMs(device: GPUDevice, encode: (pass: GPUComputePassEncoder) => void, reps: number): Promise<number> {
  const once = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    encode(pass);
    pass.end();
    const c0 = process.cpuUsage();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  await once();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) ms.push(await once());
  return ms.sort((x, y) => x - y)[reps >> 1];
}
