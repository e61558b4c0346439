// Step 2 of a spot check (coordinator/verify/checks.ts) with the kernels the volunteers train
// with: the run's WGSL trainer (kernels/mlp-trainer.ts, kernels/gpt-trainer.ts) on a Dawn
// device, fed the member's assigned batches exactly as the page's worker feeds them
// (web/worker/trainer.worker.ts). Work the member trained on its CPU (claim.device 'cpu': the
// page's fallback, bit-equal to the CPU reference) is re-executed by the CPU reference. Without
// a usable adapter, or once Dawn fails mid-check, the CPU reference re-executes everything
// instead and `fallback` says why; every result names its executor. Runs on the re-execution thread (coordinator/verify/reexec-thread.ts);
// tests call it directly.
import type { Address } from 'viem';
import { modelOf, type RunSpec, type VerificationSettings } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { windowBatch } from '../../shared/preset.ts';
import { initParams } from '../../shared/model.ts';
import { residualDigest, type Evidence, type ResidualPart } from '../../shared/wire/index.ts';
import { acquireDevice, createGptTrainer, createMlpTrainer, type GpuContext } from '../../kernels/index.ts';
import { createNodeGpu } from '../../kernels/node-gpu.ts';
import { assignedBatches, checkContributionWith, honestCompression, referenceDelta, type CheckClaim, type CheckResult, type Executor } from './checks.ts';

/** What a check is given: the frame, e_b in full, and e_a in full or only its digest (reexec derives it then). */
export interface CheckEvidence {
  frame: Uint8Array;
  residualBefore: Float32Array;
  residualAfter: ResidualPart;
}

/**
 * A check's outcome with the member's e_a it used (uploaded, or derived and matching its digest:
 * the validator carries it as the identity's next e_b) and whether the re-execution reproduces
 * it bit for bit (so the validator need not ask for it next time), or 'after' when e_a was not
 * sent and cannot be derived: the member must upload it.
 */
export type ReexecOutcome = { result: CheckResult; residualAfter: Float32Array; derivable: boolean } | { needs: 'after' };

export interface Reexecutor {
  /** What re-executes the next check. */
  readonly executor: Executor;
  /** Why the CPU reference re-executes instead of Dawn (null while Dawn does). */
  readonly fallback: string | null;
  /** The adapter Dawn runs on ("google swiftshader", …), when it does. */
  readonly adapter: string | null;
  check(thetaR: Float32Array, claim: CheckClaim, evidence: CheckEvidence): Promise<ReexecOutcome>;
  /**
   * Releases the trainer and the Dawn device, and settles once the device's loss has been
   * delivered (at most 5 s): a thread terminated before that callback runs aborts the whole
   * process (napi_throw from the device-lost handler).
   */
  destroy(): Promise<void>;
}

type Trainer = { delta(thetaR: Float32Array, batches: Uint32Array, steps: number): Promise<Float32Array>; destroy(): void };

export interface ReexecOptions {
  /** false: the CPU reference only, without trying Dawn (the fallback's reason says so). */
  gpu?: boolean;
  /** Told when the executor changes after start (Dawn failing mid-check). */
  onFallback?: (reason: string) => void;
}

export async function createReexecutor(run: RunSpec, v: VerificationSettings, train: Dataset, heldOut: Dataset, opts: ReexecOptions = {}): Promise<Reexecutor> {
  let ctx: GpuContext | null = null;
  let trainer: Trainer | null = null;
  let fallback: string | null = null;
  let adapter: string | null = null;
  if (opts.gpu === false) fallback = 'Dawn not requested';
  else {
    try {
      ctx = await acquireDevice(createNodeGpu());
      adapter = [ctx.adapter?.vendor, ctx.adapter?.architecture].filter(Boolean).join(' ') || 'unknown adapter';
      trainer = dawnTrainer(run, ctx.device, train);
      // One step from θ_0, as the page's worker warms up: compiles the pipelines and allocates
      // the buffers now rather than inside the first check.
      await trainer.delta(initParams(modelOf(run), run.seed), new Uint32Array(run.inner.batchSize), 1);
    } catch (e) {
      fallback = `Dawn could not start: ${(e as Error).message.split('\n')[0]}`;
      ctx?.device.destroy();
      ctx = null;
    }
  }
  // The last re-execution, by executor, θ_r, member and round: a check that had to ask for e_a
  // (ReexecOutcome 'after') runs again with it and must not pay for the same training twice.
  let last: { key: string; thetaR: Float32Array; steps: number; delta: Promise<Float32Array> } | null = null;
  const remembered =
    (key: string, thetaR: Float32Array, f: (steps: number) => Promise<Float32Array>) =>
    (steps: number): Promise<Float32Array> => {
      if (last?.key !== key || last.thetaR !== thetaR || last.steps !== steps) last = { key, thetaR, steps, delta: f(steps) };
      const mine = last.delta;
      mine.catch(() => last?.delta === mine && (last = null));
      return mine;
    };
  const cpu = {
    executor: 'cpu' as const,
    delta: (thetaR: Float32Array, claim: CheckClaim) => async (steps: number) => referenceDelta(run, thetaR, train, claim.account, claim.round, steps),
  };
  const self: Reexecutor = {
    get executor() {
      return trainer ? 'dawn' : 'cpu';
    },
    get fallback() {
      return fallback;
    },
    get adapter() {
      return trainer ? adapter : null;
    },
    async check(thetaR, claim, given) {
      // Work trained on a CPU is re-executed by the same CPU arithmetic: the kernels would
      // differ from it by float drift that grows as the model converges.
      if (trainer && claim.device !== 'cpu') {
        const t = trainer;
        const fresh = (steps: number) => t.delta(thetaR, assignedBatches(run, claim.account as Address, claim.round, steps), steps);
        const dawn = { executor: 'dawn' as const, delta: remembered(`dawn:${claim.account}:${claim.round}`, thetaR, fresh) };
        try {
          const completed = await complete(given, dawn.delta);
          if (!completed) return { needs: 'after' };
          const { evidence, derivable } = completed;
          const first = await checkContributionWith(run, v, thetaR, heldOut, claim, evidence, dawn);
          if (!(first.detail.relDelta! > v.tolerance / 10)) return { result: first, residualAfter: evidence.residualAfter, derivable };
          // Far above float drift (≤ 3.5e-5 measured): re-execute once more with Dawn and with
          // the CPU reference, record both, and reject only when the second Dawn run agrees,
          // so a transient fault of this executor cannot reject honest work.
          const again = await checkContributionWith(run, v, thetaR, heldOut, claim, evidence, { executor: 'dawn', delta: fresh });
          const cpuRun = await checkContributionWith(run, v, thetaR, heldOut, claim, evidence, { executor: 'cpu', delta: cpu.delta(thetaR, claim) });
          const decided = again.passed ? again : first;
          decided.detail.recheck = { first: first.detail.relDelta!, dawn: again.detail.relDelta!, cpu: cpuRun.detail.relDelta! };
          decided.detail.ms = first.detail.ms + again.detail.ms + cpuRun.detail.ms;
          return { result: decided, residualAfter: evidence.residualAfter, derivable };
        } catch (e) {
          fallback = `Dawn failed during a check: ${(e as Error).message.split('\n')[0]}`;
          trainer = null;
          t.destroy();
          ctx?.device.destroy();
          ctx = null;
          opts.onFallback?.(fallback);
        }
      }
      const reference = { executor: 'cpu' as const, delta: remembered(`cpu:${claim.account}:${claim.round}`, thetaR, cpu.delta(thetaR, claim)) };
      const completed = await complete(given, reference.delta);
      if (!completed) return { needs: 'after' };
      const { evidence, derivable } = completed;
      return { result: await checkContributionWith(run, v, thetaR, heldOut, claim, evidence, reference), residualAfter: evidence.residualAfter, derivable };

      /**
       * e_a in full: as given, or derived from the re-execution when it hashes to the given digest
       * (null: it does not), and whether the derivation reproduces the member's e_a.
       */
      async function complete(ev: CheckEvidence, delta: (steps: number) => Promise<Float32Array>): Promise<{ evidence: Evidence; derivable: boolean } | null> {
        // No step to re-execute: the check's step 1 refuses the claim once e_a is in full.
        if (claim.steps < 1) return typeof ev.residualAfter === 'string' ? null : { evidence: { ...ev, residualAfter: ev.residualAfter }, derivable: false };
        const derived = honestCompression(run, claim, ev.residualBefore, await delta(claim.steps)).residual;
        const derivable = residualDigest(derived) === residualDigest(ev.residualAfter);
        if (typeof ev.residualAfter !== 'string') return { evidence: { ...ev, residualAfter: ev.residualAfter }, derivable };
        return derivable ? { evidence: { ...ev, residualAfter: derived }, derivable } : null;
      }
    },
    async destroy() {
      trainer?.destroy();
      trainer = null;
      const c = ctx;
      ctx = null;
      if (!c) return;
      c.device.destroy();
      await Promise.race([c.lost, new Promise((r) => setTimeout(r, 5_000))]);
      await new Promise((r) => setTimeout(r, 0));
    },
  };
  return self;
}

/** The run's WGSL trainer as Δ = θ_r − θ_local for a member's assigned batches. */
function dawnTrainer(run: RunSpec, device: GPUDevice, train: Dataset): Trainer {
  const spec = modelOf(run);
  const B = run.inner.batchSize;
  const minus = (thetaR: Float32Array, local: Float32Array) => thetaR.map((x, i) => x - local[i]);
  if (spec.preset === 'mlp') {
    const t = createMlpTrainer(device, spec, { batchSize: B });
    t.setData(train);
    return {
      delta: async (thetaR, batches, steps) => minus(thetaR, (await t.train({ params: thetaR, batches, steps, adamw: run.inner.adamw })).params),
      destroy: () => t.destroy(),
    };
  }
  const t = createGptTrainer(device, spec, { batchSize: B, seqLen: train.features - 1 });
  return {
    delta: async (thetaR, batches, steps) => {
      const { tokens, targets } = windowBatch(train, batches);
      return minus(thetaR, (await t.train({ params: thetaR, tokens, targets, steps, adamw: run.inner.adamw })).params);
    },
    destroy: () => t.destroy(),
  };
}
