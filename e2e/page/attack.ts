// TEST ONLY: how an attacking page shapes its update (e2e/swarm.ts --byzantine K --attack NAME).
// The swarm injects `window.__idlegradAttack = NAME` into K pages before the app loads; the
// page then wraps its trainer in an AttackingTrainer. A production
// page never has that global, and this module is only fetched when it is set. The attacker
// otherwise behaves like any page: it exchanges, signs its report with its own device key,
// and answers spot checks with its real evidence — as a real attacker's modified client would.
//
// The update is replaced before compression, the way `npm run sim` (e2e/sim.ts) does it, so the
// page's error feedback stays bounded: the page reports θ_local' with Δ' = θ_r − θ_local' =
//   sign-flip  −SIGN_FLIP_SCALE·Δ (shared/attacks.ts, as the sim)
//   noise      N(0, NOISE_SIGMA²) per parameter (shared/attacks.ts): ~100× an honest update's scale
//   lazy       0: no work; the frame carries only the old error-feedback residual
import { createRng, gaussian } from '../../shared/rng.ts';
import { NOISE_SIGMA, SIGN_FLIP_SCALE } from '../../shared/attacks.ts';
import type { AbortReport, BenchmarkResult, DeviceLoss, Throttle, Trainer, TrainArgs, TrainResult } from '../../web/src/client/trainer.ts';

export const PAGE_ATTACKS = ['sign-flip', 'noise', 'lazy'] as const;
export type PageAttack = (typeof PAGE_ATTACKS)[number];

export function isPageAttack(name: unknown): name is PageAttack {
  return typeof name === 'string' && (PAGE_ATTACKS as readonly string[]).includes(name);
}

/** θ_local' such that θ_r − θ_local' is the attack's update; `before` is θ_r, `after` the honest θ_local, (paramCount). */
export function attackTrained(attack: PageAttack, before: Float32Array, after: Float32Array, round: number): Float32Array {
  const out = new Float32Array(before.length);
  const rand = createRng(0x5eed ^ round);
  for (let i = 0; i < out.length; i++) {
    const delta = attack === 'sign-flip' ? -SIGN_FLIP_SCALE * (before[i] - after[i]) : attack === 'noise' ? NOISE_SIGMA * gaussian(rand) : 0;
    out[i] = before[i] - delta;
  }
  return out;
}

/** A Trainer decorator: trains honestly, then hands back the attack's θ_local' instead of θ_local. */
export class AttackingTrainer implements Trainer {
  private rounds = 0;
  constructor(
    private readonly inner: Trainer,
    private readonly attack: PageAttack,
  ) {}

  async train(args: TrainArgs): Promise<TrainResult> {
    const before = args.params.slice(); // args.params is transferred to the worker
    const r = await this.inner.train(args);
    return { ...r, params: attackTrained(this.attack, before, r.params, ++this.rounds) };
  }

  probe: Trainer['probe'] = () => this.inner.probe();
  useCpu: Trainer['useCpu'] = () => this.inner.useCpu();
  abort = (): Promise<AbortReport | null> => this.inner.abort();
  setThrottle = (t: Throttle) => this.inner.setThrottle(t);
  init: Trainer['init'] = (sizes, batchSize, gpt) => this.inner.init(sizes, batchSize, gpt);
  setData: Trainer['setData'] = (data) => this.inner.setData(data);
  benchmark = (steps?: number): Promise<BenchmarkResult> => this.inner.benchmark(steps);
  limits: Trainer['limits'] = () => this.inner.limits();
  onLost = (fn: (loss: DeviceLoss) => void) => this.inner.onLost(fn);
  terminate = () => this.inner.terminate();
}
