// How row-parallel kernels (layernorm, softmax_xent) reduce over a row: `lanes` consecutive
// invocations per row, combined through workgroup memory (row_reduce_workgroup.wgsl) or, where
// the device has the `subgroups` feature, through subgroup shuffles (row_reduce_subgroup.wgsl).
// lanes 1 is a row per invocation (no reduction: CPU adapters, where a barrier costs more than
// the parallelism buys); lanes = wg is a row per workgroup. The autotune picks per adapter.
import workgroupSrc from './row_reduce_workgroup.wgsl?raw';
import subgroupSrc from './row_reduce_subgroup.wgsl?raw';
import singleSrc from './row_reduce_single.wgsl?raw';
import { deviceChoice } from '../device-choice.ts';

export interface RowReduceConfig {
  /** Invocations per workgroup, a power of two. */
  wg: number;
  /** Invocations per row, a power of two ≤ wg. */
  lanes: number;
  /** Reduce with subgroup shuffles (needs the `subgroups` feature and lanes ≤ the smallest subgroup). */
  subgroups: boolean;
}

/** What the autotune chooses among (those a device can run: rowReduceCandidates). */
export const ROW_REDUCE_CANDIDATES: readonly RowReduceConfig[] = [
  { wg: 64, lanes: 1, subgroups: false },
  { wg: 64, lanes: 8, subgroups: false },
  { wg: 64, lanes: 64, subgroups: false },
  { wg: 64, lanes: 4, subgroups: true },
  { wg: 64, lanes: 32, subgroups: true },
];

/** The device's smallest subgroup size, 0 where it has no `subgroups` feature (or does not say). */
export function subgroupMinSize(device: GPUDevice): number {
  return device.features.has('subgroups') ? (device.adapterInfo?.subgroupMinSize ?? 0) : 0;
}

/** Why `config` cannot run on `device`, or null. */
export function rowReduceUnsupported(config: RowReduceConfig, device: GPUDevice): string | null {
  const pow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
  if (!pow2(config.wg) || config.wg > device.limits.maxComputeInvocationsPerWorkgroup)
    return `wg ${config.wg} is not a power of two within the device's workgroup size`;
  if (!pow2(config.lanes) || config.lanes > config.wg) return `lanes ${config.lanes} is not a power of two ≤ wg ${config.wg}`;
  if (config.subgroups) {
    const min = subgroupMinSize(device);
    if (min === 0) return 'the device has no subgroups feature';
    if (config.lanes > min) return `lanes ${config.lanes} exceed the smallest subgroup size ${min}`;
  }
  return null;
}

export function rowReduceCandidates(device: GPUDevice): RowReduceConfig[] {
  return ROW_REDUCE_CANDIDATES.filter((c) => rowReduceUnsupported(c, device) === null);
}

/**
 * On a device the autotune has not seen (the Node validator re-executes untuned): a row per
 * invocation, the layout before row-parallel reductions — no barrier, no feature needed, and the
 * fastest on SwiftShader (autotune there: lanes 1 17.6 ms, 4 subgroup lanes 31.9, 64 lanes 199).
 */
export const rowReduceChoice = deviceChoice<RowReduceConfig>(
  () => ROW_REDUCE_CANDIDATES[0],
  (config, device) => {
    const why = rowReduceUnsupported(config, device);
    if (why) throw new RangeError(`row reduction config ${JSON.stringify(config)}: ${why}`);
  },
);

/**
 * The WGSL that defines rowSum2 / rowMax for `config` (prepend it to the kernel body; the
 * subgroup form starts with its `enable` directive) and the overrides it reads.
 */
export function rowReduceSource(config: RowReduceConfig, device: GPUDevice): { prelude: string; constants: { WG: number; LANES: number } } {
  const why = rowReduceUnsupported(config, device);
  if (why) throw new RangeError(`row reduction config ${JSON.stringify(config)}: ${why}`);
  return { prelude: config.subgroups ? subgroupSrc : workgroupSrc, constants: { WG: config.wg, LANES: config.lanes } };
}

/**
 * For kernels whose rows run loops of their own length (attention): rowSum2 / rowMax with no
 * barrier, so callable from non-uniform control flow — the identity for one lane per row, or
 * subgroup shuffles where a row is a whole subgroup (the caller checks that: `wholeSubgroup`).
 * The uniformity analysis cannot see that a subgroup's lanes share their row's loops, hence
 * the diagnostic.
 */
export function laneReducePrelude(lanes: number): string {
  return lanes === 1 ? singleSrc : `diagnostic(off, subgroup_uniformity);\n${subgroupSrc}`;
}

/** Why `lanes` invocations cannot be exactly one subgroup on `device`, or null. */
export function notWholeSubgroup(lanes: number, device: GPUDevice): string | null {
  if (!device.features.has('subgroups')) return 'the device has no subgroups feature';
  const { subgroupMinSize: min, subgroupMaxSize: max } = device.adapterInfo ?? {};
  if (min !== lanes || max !== lanes)
    return `a row of ${lanes} lanes must be one whole subgroup; this device's subgroups have ${min ?? '?'}–${max ?? '?'} invocations`;
  return null;
}
