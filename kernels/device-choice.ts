// The variant of a kernel family (a tiling, a reduction strategy) that each device builds: what
// the autotune (autotune.ts) measured fastest there, or the family's default on a device it has
// not seen. One per family (matmul, attention, row reductions); op specs read it when building.

export interface DeviceChoice<Config> {
  get(device: GPUDevice): Config;
  /** Validates `config` for `device` (throws RangeError) and makes it what get() returns. */
  set(device: GPUDevice, config: Config): void;
}

export function deviceChoice<Config>(fallback: (device: GPUDevice) => Config, validate: (config: Config, device: GPUDevice) => void): DeviceChoice<Config> {
  const chosen = new WeakMap<GPUDevice, Config>();
  return {
    get: (device) => chosen.get(device) ?? fallback(device),
    set(device, config) {
      validate(config, device);
      chosen.set(device, config);
    },
  };
}
