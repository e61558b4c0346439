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
import type { Hex } from 'viem';
import { exactLeaves, residualRoot, withOpenedLeaves, type InnerStateEvidence, type ResidualOpening, type ResidualPart } from '../../shared/wire/index.ts';
import type { AdamWState } from '../../shared/mlp.ts';
import { acquireDevice, createGptTrainer, createMlpTrainer, TrainingAbortedError, type GpuContext } from '../../kernels/index.ts';
import { createNodeGpu } from '../../kernels/node-gpu.ts';
import {
  assignedBatches,
  compareWithReference,
  heldOutLoss,
  honestCompression,
  openEvidence,
  referenceDelta,
  residualAfterOf,
  sameBits,
  type CheckClaim,
  type CheckResult,
  type Comparison,
  type Executor,
} from './checks.ts';

/**
 * What a check is given: the frame, e_b in full (with its root when the validator already knows
 * it: carried from the identity's last check, or the zeros' root) — the member's exact values,
 * or, with `beforeOpening`, the validator's approximation of the member's residual chain and the
 * member's exact values at the sampled leaves — and e_a in full, as its root alone (reexec
 * derives it then), or opened at the sampled leaves.
 */
export interface CheckEvidence {
  frame: Uint8Array;
  residualBefore: Float32Array;
  /** The member's e_b at the sampled leaves, when `residualBefore` is an approximation (its root is `beforeDigest`). */
  beforeOpening?: ResidualOpening;
  residualAfter: ResidualPart;
  /** The root of e_b, known to this validator; computed here when absent. */
  beforeDigest?: Hex;
  /** The root of `residualAfter` as the upload thread computed it (evidence-desk.ts); computed here when absent. */
  afterDigest?: Hex;
  /**
   * Set when e_b is known only where `beforeOpening` opened it (the validator's chain broke):
   * the leaves the work check compares (the sampled ones), and the value ranges of the codec
   * chunks the opening covers whole, where the codec check runs (Comparison.codecRanges). The
   * e_a the check derives is then not carried.
   */
  partial?: { workLeaves: number[]; codecRanges: [number, number][] };
  /**
   * The member's inner AdamW state (run setting inner.state 'kept'): the re-execution goes on from
   * `state.before`; `stateDigests` as the upload thread computed them (computed here when absent).
   */
  state?: InnerStateEvidence;
  stateDigests?: { before: Hex; after: Hex };
}

/**
 * A check's outcome with the member's e_a it used and that residual's root (the validator carries
 * both as the identity's next e_b; null when the evidence failed before e_a was known): `exact`
 * when uploaded in full or derived bit for bit, else the validator's approximation with the
 * opened leaves written in; `derivable`: the re-execution reproduces e_a bit for bit (so the
 * validator need not ask for it next time). Or 'after' when e_a was sent as its root alone and
 * cannot be derived: the member must upload it. `ms` there is what the check spent before it
 * found that out (the validator adds it to the check's time).
 */
export type ReexecOutcome =
  { result: CheckResult; residualAfter: { values: Float32Array; digest: Hex; exact: boolean } | null; derivable: boolean } | { needs: 'after'; ms: number };

export interface Reexecutor {
  /** What re-executes the next check. */
  readonly executor: Executor;
  /** Why the CPU reference re-executes instead of Dawn (null while Dawn does). */
  readonly fallback: string | null;
  /** The adapter Dawn runs on ("google swiftshader", …), when it does. */
  readonly adapter: string | null;
  /**
   * One check; its `detail.ms` is the whole check on this thread: opening the evidence, the
   * re-execution(s), the honest compression, residual hashing and the held-out evaluation.
   */
  check(thetaR: Float32Array, claim: CheckClaim, evidence: CheckEvidence): Promise<ReexecOutcome>;
  /**
   * Stops the Dawn re-execution in flight within one segment (REEXEC_SEGMENT_MS): its check
   * rejects with TrainingAbortedError, no result, and every later check rejects the same way.
   * For a shutdown, which would otherwise wait out a check of tens of seconds on SwiftShader.
   */
  abort(): void;
  /**
   * Releases the trainer and the Dawn device, and settles once the device's loss has been
   * delivered (at most 5 s): a thread terminated before that callback runs aborts the whole
   * process (napi_throw from the device-lost handler).
   */
  destroy(): Promise<void>;
}

/**
 * A Dawn re-execution is submitted in segments of about this much GPU work, so that abort() lands
 * within one (kernels/segments.ts; the result does not depend on the segmentation).
 */
export const REEXEC_SEGMENT_MS = 500;

type Trainer = { delta(thetaR: Float32Array, batches: Uint32Array, steps: number, state?: AdamWState): Promise<Float32Array>; destroy(): void };

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
  const stopping = new AbortController();
  if (opts.gpu === false) fallback = 'Dawn not requested';
  else {
    try {
      ctx = await acquireDevice(createNodeGpu());
      adapter = [ctx.adapter?.vendor, ctx.adapter?.architecture].filter(Boolean).join(' ') || 'unknown adapter';
      trainer = dawnTrainer(run, ctx.device, train, stopping.signal);
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
      if (last?.key !== key || !sameBits(last.thetaR, thetaR) || last.steps !== steps) last = { key, thetaR, steps, delta: f(steps) };
      const mine = last.delta;
      mine.catch(() => last?.delta === mine && (last = null));
      return mine;
    };
  const cpuDelta = (thetaR: Float32Array, claim: CheckClaim, state?: AdamWState) => async (steps: number) =>
    referenceDelta(run, thetaR, train, claim.account, claim.round, steps, state);
  // The held-out loss of θ_r is the same for every check of a round: evaluated once per θ_r.
  let base: { thetaR: Float32Array; loss: number } | null = null;
  const baseLoss = (thetaR: Float32Array) => () => {
    if (!base || !sameBits(base.thetaR, thetaR)) base = { thetaR: thetaR.slice(), loss: heldOutLoss(run, v, thetaR, heldOut) };
    return base.loss;
  };

  /** Steps 1–5 of checks.ts with `delta` re-executing; the recheck (dawn only) when it is far off. */
  async function checkWith(
    thetaR: Float32Array,
    claim: CheckClaim,
    given: CheckEvidence,
    executor: Executor,
    delta: (steps: number) => Promise<Float32Array>,
    recheck: ((steps: number) => Promise<Float32Array>) | null,
  ): Promise<ReexecOutcome> {
    const opened = openEvidence(
      run,
      claim,
      { frame: given.frame, residualBefore: given.beforeOpening ?? given.residualBefore, residualAfter: given.residualAfter, state: given.state },
      given.beforeDigest,
      given.afterDigest,
      given.stateDigests,
    );
    if ('passed' in opened) return { result: opened, residualAfter: null, derivable: false };
    const ref = await delta(claim.steps);
    const eb = given.beforeOpening ? withOpenedLeaves(given.residualBefore, given.beforeOpening) : given.residualBefore;
    const honest = honestCompression(run, claim, eb, ref);
    const after = given.residualAfter;
    let residualAfter: Float32Array;
    let exact = true;
    let derivable = false;
    if (after instanceof Float32Array) {
      residualAfter = after;
      derivable = sameBits(honest.residual, after);
    } else if (!given.beforeOpening && residualRoot(honest.residual) === opened.afterDigest) {
      residualAfter = honest.residual;
      derivable = true;
    } else if (typeof after === 'string') return { needs: 'after', ms: 0 };
    else {
      // Opened at the sampled leaves: exact there, the member's chain continued by Δ_ref elsewhere.
      residualAfter = withOpenedLeaves(residualAfterOf(eb, ref, opened.frame), after);
      exact = false;
    }
    // Where both residuals are the member's exact values: everywhere, or the leaves both opened.
    const exactSets = [given.beforeOpening ? exactLeaves(given.beforeOpening) : null, exact ? null : exactLeaves(after)].filter((x) => x !== null);
    const exactAt = exactSets.length ? exactSets.reduce((a, b) => a.filter((i) => b.includes(i))) : undefined;
    const partial = given.partial;
    const cmp: Comparison = {
      run,
      v,
      thetaR,
      heldOut,
      claim,
      evidence: { frame: given.frame, residualBefore: eb, residualAfter },
      exactLeaves: partial ? partial.workLeaves.filter((i) => exactAt?.includes(i) ?? true) : exactAt,
      baseLoss: baseLoss(thetaR),
      codecRanges: partial?.codecRanges,
    };
    // With e_b known on a few chunks only, the derived e_a is not the member's elsewhere: nothing to carry.
    const outcome = (result: CheckResult) => ({
      result,
      residualAfter: partial ? null : { values: residualAfter, digest: opened.afterDigest, exact },
      derivable: partial ? false : derivable,
    });
    const first = compareWithReference(cmp, opened.frame, ref, honest);
    first.detail.executor = executor;
    if (!recheck || !(first.detail.relDelta! > v.tolerance / 10)) return outcome(first);
    // Far above float drift (≤ 3.5e-5 measured): re-execute once more with Dawn and with
    // the CPU reference, record both, and reject only when the second Dawn run agrees,
    // so a transient fault of this executor cannot reject honest work.
    const again = compareWithReference(cmp, opened.frame, await recheck(claim.steps));
    again.detail.executor = executor;
    const cpuRun = compareWithReference(cmp, opened.frame, await cpuDelta(thetaR, claim, given.state?.before)(claim.steps));
    const decided = again.passed ? again : first;
    decided.detail.recheck = { first: first.detail.relDelta!, dawn: again.detail.relDelta!, cpu: cpuRun.detail.relDelta! };
    return outcome(decided);
  }

  async function checkOnce(thetaR: Float32Array, claim: CheckClaim, given: CheckEvidence): Promise<ReexecOutcome> {
    // Work trained on a CPU is re-executed by the same CPU arithmetic: the kernels would
    // differ from it by float drift that grows as the model converges.
    if (trainer && claim.device !== 'cpu') {
      const t = trainer;
      const fresh = (steps: number) => t.delta(thetaR, assignedBatches(run, claim.account as Address, claim.round, steps), steps, given.state?.before);
      try {
        return await checkWith(thetaR, claim, given, 'dawn', remembered(`dawn:${claim.account}:${claim.round}`, thetaR, fresh), fresh);
      } catch (e) {
        // Stopped, not failed: Dawn stays the executor and nothing falls back to the CPU.
        if (e instanceof TrainingAbortedError && stopping.signal.aborted) throw e;
        fallback = `Dawn failed during a check: ${(e as Error).message.split('\n')[0]}`;
        trainer = null;
        t.destroy();
        ctx?.device.destroy();
        ctx = null;
        opts.onFallback?.(fallback);
      }
    }
    return checkWith(
      thetaR,
      claim,
      given,
      'cpu',
      remembered(`cpu:${claim.account}:${claim.round}`, thetaR, cpuDelta(thetaR, claim, given.state?.before)),
      null,
    );
  }

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
      if (stopping.signal.aborted)
        throw new TrainingAbortedError('Re-execution stopped: the validator is shutting down.', {
          stepsDone: 0,
          idleAt: performance.timeOrigin + performance.now(),
        });
      const t0 = performance.now();
      const out = await checkOnce(thetaR, claim, given);
      const ms = performance.now() - t0;
      if ('needs' in out) return { needs: out.needs, ms };
      out.result.detail.ms = ms;
      return out;
    },
    abort() {
      stopping.abort();
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
function dawnTrainer(run: RunSpec, device: GPUDevice, train: Dataset, signal: AbortSignal): Trainer {
  const segments = { segmentMs: REEXEC_SEGMENT_MS, signal };
  const spec = modelOf(run);
  const B = run.inner.batchSize;
  const minus = (thetaR: Float32Array, local: Float32Array) => thetaR.map((x, i) => x - local[i]);
  if (spec.preset === 'mlp') {
    const t = createMlpTrainer(device, spec, { batchSize: B });
    t.setData(train);
    return {
      delta: async (thetaR, batches, steps, state) =>
        minus(thetaR, (await t.train({ params: thetaR, batches, steps, adamw: run.inner.adamw, ...segments, ...(state ? { state } : {}) })).params),
      destroy: () => t.destroy(),
    };
  }
  const t = createGptTrainer(device, spec, { batchSize: B, seqLen: train.features - 1 });
  return {
    delta: async (thetaR, batches, steps, state) => {
      if (state) throw new Error('the GPT trainer does not take an inner AdamW state (run setting inner.state "kept" is for the MLP)');
      const { tokens, targets } = windowBatch(train, batches);
      return minus(thetaR, (await t.train({ params: thetaR, tokens, targets, steps, adamw: run.inner.adamw, ...segments })).params);
    },
    destroy: () => t.destroy(),
  };
}
