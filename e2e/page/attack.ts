// TEST ONLY: how an attacking page shapes its update (e2e/swarm.ts --byzantine K --attack NAME).
// The swarm injects `window.__idlegradAttack = NAME` into K pages before the app loads; the
// page then wraps its trainer in an AttackingTrainer. A production
// page never has that global, and this module is only fetched when it is set. The attacker
// otherwise behaves like any page: it exchanges, signs its report with its own device key,
// and answers spot checks with its real evidence — as a real attacker's modified client would.
//
// The update is replaced before compression, the way `npm run sim` (e2e/sim.ts) does it, so the
// page's error feedback stays bounded. The worker hands back the honest frame and e'; the
// attacker recovers the honest Δ = decode(frame) + e' − e and sends C(Δ' + e) instead, with
//
//   sign-flip  −SIGN_FLIP_SCALE·Δ (shared/attacks.ts, as the sim)
//   noise      N(0, NOISE_SIGMA²) per parameter (shared/attacks.ts): ~100× an honest update's scale
//   lazy       0: no work; the frame carries only the old error-feedback residual
import { createRng, gaussian } from '../../shared/rng.ts';
import { decodeFrame, frameLimits, toDense } from '../../shared/codec.ts';
import { compressUpdate } from '../../shared/round.ts';
import { NOISE_SIGMA, SIGN_FLIP_SCALE } from '../../shared/attacks.ts';
import type { AbortReport, BenchmarkResult, DeviceLoss, Throttle, Trainer, TrainArgs, TrainResult } from '../../web/src/client/trainer.ts';

export const PAGE_ATTACKS = ['sign-flip', 'noise', 'lazy'] as const;
export type PageAttack = (typeof PAGE_ATTACKS)[number];

export function isPageAttack(name: unknown): name is PageAttack {
  return typeof name === 'string' && (PAGE_ATTACKS as readonly string[]).includes(name);
}

/** The attack's update Δ' from the honest Δ = θ_r − θ_local, (paramCount). */
export function attackDelta(attack: PageAttack, delta: Float32Array, round: number): Float32Array {
  const out = new Float32Array(delta.length);
  const rand = createRng(0x5eed ^ round);
  for (let i = 0; i < out.length; i++) out[i] = attack === 'sign-flip' ? -SIGN_FLIP_SCALE * delta[i] : attack === 'noise' ? NOISE_SIGMA * gaussian(rand) : 0;
  return out;
}

/** A Trainer decorator: trains honestly, then hands back the frame of the attack's update instead. */
export class AttackingTrainer implements Trainer {
  private rounds = 0;
  constructor(
    private readonly inner: Trainer,
    private readonly attack: PageAttack,
  ) {}

  async train(args: TrainArgs): Promise<TrainResult> {
    const r = await this.inner.train(args);
    // decode(C(v)) + e' = v = Δ + e exactly (e' is defined so), hence Δ.
    const sent = toDense(decodeFrame(r.frame, frameLimits({ ...args.update, paramCount: r.residual.length, maxSamples: 0xffffffff })));
    const delta = sent.map((x, i) => x + r.residual[i] - r.residualBefore[i]);
    const bad = attackDelta(this.attack, delta, ++this.rounds);
    const own = compressUpdate(
      args.update,
      bad.map((d, i) => d + r.residualBefore[i]),
      r.samples,
    );
    return { ...r, frame: own.bytes, frameHash: own.hash, residual: own.residual };
  }

  probe: Trainer['probe'] = () => this.inner.probe();
  useCpu: Trainer['useCpu'] = () => this.inner.useCpu();
  abort = (): Promise<AbortReport | null> => this.inner.abort();
  setThrottle = (t: Throttle) => this.inner.setThrottle(t);
  init: Trainer['init'] = (sizes, batchSize, gpt) => this.inner.init(sizes, batchSize, gpt);
  setData: Trainer['setData'] = (data) => this.inner.setData(data);
  aggregate: Trainer['aggregate'] = (args) => this.inner.aggregate(args);
  benchmark = (steps?: number): Promise<BenchmarkResult> => this.inner.benchmark(steps);
  limits: Trainer['limits'] = () => this.inner.limits();
  onLost = (fn: (loss: DeviceLoss) => void) => this.inner.onLost(fn);
  terminate = () => this.inner.terminate();
}
