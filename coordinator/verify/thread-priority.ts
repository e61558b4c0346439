// The validator's re-execution at the lowest CPU priority. The platform runs it in the
// coordinator's process, and on a machine shared with volunteers (the swarm, a lead's own box)
// a Dawn/SwiftShader re-execution of a gpt-small contribution took every core for minutes:
// the pages' training slowed below the pace they had measured the round before and their
// reports missed the round (issue 18: round 2 lost to STALE_ROUND while a 550 s check ran). A
// validator on a machine of its own loses nothing by it: nothing else wants those cores.
//
// Linux keeps a nice value per thread, and setpriority(PRIO_PROCESS, 0, n) — os.setPriority(n)
// — sets the calling thread's only; threads it creates later (Dawn's, SwiftShader's workers)
// inherit it. Elsewhere the same call would lower the whole coordinator, so it is not made.
import { getPriority, platform, setPriority } from 'node:os';

/** The niceness the re-execution thread takes (19: the lowest priority; 0: leave it). */
export const REEXEC_NICE = 19;

/** What the thread's priority became: the niceness set, or why it was left. */
export type ThreadPriority = { nice: number } | { left: string };

/** Lowers the calling thread (and the threads it starts from now on) to niceness `nice`. */
export function lowerThisThread(nice: number): ThreadPriority {
  if (!(Number.isInteger(nice) && nice >= 0 && nice <= 19)) throw new RangeError(`re-execution niceness: expected an integer in [0, 19], got ${nice}`);
  if (nice === 0) return { left: 'niceness 0 asked' };
  if (platform() !== 'linux') return { left: `${platform()} has no per-thread niceness` };
  try {
    // Never raise it: an unprivileged thread could not lower it back.
    if (getPriority(0) < nice) setPriority(0, nice);
    return { nice: getPriority(0) };
  } catch (e) {
    return { left: `setpriority failed: ${(e as Error).message}` };
  }
}
