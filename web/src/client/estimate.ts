// The expected contribution of this device, shown before consent (issue 6 item 4): from the
// measured micro-benchmark (samples per second on the run's model) and the run's public
// settings. An estimate, labelled as one: real rounds also wait for the exchange and peers,
// and credit depends on the cohort's aggregate being accepted.
//
//   a round takes           T = trainMs + exchangeMs + reportMs (at most; rounds may commit early)
//   a round asks for        S = steps × batchSize samples
//   this device needs       S / (samplesPerSec × duty) seconds for them, and reports nothing
//                           for a round it cannot finish before trainMs + exchangeMs
//   per hour                S × 3600 s / T samples, × weiPerSample credit
import type { RunSettings } from '../../../shared/config.ts';

export interface ContributionEstimate {
  samplesPerSec: number;
  duty: number;
  /** Seconds this device needs for one round's samples at this duty. */
  secondsPerRound: number;
  /** False when it cannot finish a round in time: it would earn nothing. */
  fitsInRound: boolean;
  roundsPerHour: number;
  samplesPerHour: number;
  /** Credit per hour in token wei (decimal string). */
  weiPerHour: string;
}

export function estimateContribution(run: Pick<RunSettings, 'inner' | 'timing' | 'rewards'>, samplesPerSec: number, duty: number): ContributionEstimate {
  const perRound = run.inner.steps * run.inner.batchSize;
  const roundMs = run.timing.trainMs + run.timing.exchangeMs + run.timing.reportMs;
  const rate = Math.max(samplesPerSec, 0) * duty;
  const secondsPerRound = rate > 0 ? perRound / rate : Infinity;
  const fitsInRound = secondsPerRound * 1000 <= run.timing.trainMs + run.timing.exchangeMs;
  const roundsPerHour = 3_600_000 / roundMs;
  const samplesPerHour = fitsInRound ? Math.floor(perRound * roundsPerHour) : 0;
  return {
    samplesPerSec,
    duty,
    secondsPerRound,
    fitsInRound,
    roundsPerHour,
    samplesPerHour,
    weiPerHour: (BigInt(samplesPerHour) * BigInt(run.rewards.weiPerSample)).toString(),
  };
}
