// The round loop both trainers share (kernels/mlp-trainer.ts, kernels/gpt-trainer.ts): a
// round's steps are encoded into command buffers in segments, so a volunteer's GPU budget can
// pause between them and a stop lands within one segment. The first segment is one step, to
// measure the step time; later ones hold as many steps as fit in `segmentMs`. Without
// `segmentMs` one segment holds every step (no waits, no callbacks).
//
// Timing: `gpuMs` runs from the first submit to the readback's end; `busyMs` sums, per
// segment, the time from its submit to the queue going idle (what a duty cycle measures).
import { TrainingAbortedError } from './errors.ts';
import { withErrorScope } from './device.ts';

export interface SegmentedRound {
  device: GPUDevice;
  steps: number;
  segmentMs?: number;
  signal?: AbortSignal;
  /** Names the round in error scopes and encoder labels ('mlp', 'gpt'). */
  label: string;
  /** Uploads and clears for the round, encoded before the first segment's steps. */
  begin(enc: GPUCommandEncoder): void;
  encodeSteps(enc: GPUCommandEncoder, from: number, to: number): void;
  /** What the round reads back: each source copied whole into its MAP_READ buffer after the last step, then mapped. */
  readback: [src: GPUBuffer, dst: GPUBuffer][];
  between?: (segment: { stepsDone: number; busyMs: number }) => Promise<void> | void;
  /** The device-lost error in place of `err` when the device was lost, else `err`. */
  lostOr(err: unknown): unknown;
  isLost(): boolean;
}

export async function runSegmentedRound(r: SegmentedRound): Promise<{ gpuMs: number; busyMs: number }> {
  const { device, steps, segmentMs } = r;
  let t0 = 0;
  let done = 0;
  let perStepMs = 0;
  let busyMs = 0;
  let lastSubmit = 0;
  while (done < steps) {
    if (r.signal?.aborted)
      throw new TrainingAbortedError(`Training stopped after ${done} of ${steps} steps.`, {
        stepsDone: done,
        idleAt: performance.timeOrigin + performance.now(),
      });
    const n = segmentMs === undefined ? steps : done === 0 ? 1 : Math.max(1, Math.min(steps - done, Math.floor(segmentMs / Math.max(perStepMs, 1e-3))));
    const last = done + n >= steps;
    const ts = performance.now();
    await withErrorScope(device, `encoding a ${r.label} training round`, () => {
      const enc = device.createCommandEncoder({ label: `${r.label}.round.steps${done}-${done + n}` });
      if (done === 0) r.begin(enc);
      r.encodeSteps(enc, done, done + n);
      if (last) for (const [src, dst] of r.readback) enc.copyBufferToBuffer(src, 0, dst, 0, dst.size);
      lastSubmit = performance.now();
      if (done === 0) t0 = lastSubmit;
      device.queue.submit([enc.finish()]);
    });
    done += n;
    if (!last) {
      await device.queue.onSubmittedWorkDone().catch((err) => {
        throw r.lostOr(err);
      });
      if (r.isLost()) throw r.lostOr(new Error('device lost between segments'));
      perStepMs = (performance.now() - ts) / n;
      const segBusy = performance.now() - lastSubmit;
      busyMs += segBusy;
      if (r.between) await r.between({ stepsDone: done, busyMs: segBusy });
    }
  }
  await Promise.all(r.readback.map(([, dst]) => dst.mapAsync(GPUMapMode.READ))).catch((err) => {
    throw r.lostOr(err);
  });
  const now = performance.now();
  return { gpuMs: now - t0, busyMs: busyMs + (now - lastSubmit) };
}
