// Device acquisition for both navigator.gpu (browser, worker) and Dawn's `create()` (Node).
// The caller passes the GPU object in, so nothing here touches a global; loss of the device
// becomes a visible state and a promise instead of a silent dead queue.
import { DeviceLostError, GpuValidationError, WebGpuUnavailableError } from './errors.ts';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Adapter features, sorted. */
  features: string[];
}

export type DeviceState = { status: 'ready' } | { status: 'lost'; reason: string; message: string };

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterSummary;
  /** The device's limits as a plain object (what the coordinator's `hello` reports). */
  limits: Record<string, number>;
  /** 'ready' until device.lost settles. */
  readonly state: DeviceState;
  /** Settles once when the device is lost, including by destroy() (reason 'destroyed'). */
  lost: Promise<Extract<DeviceState, { status: 'lost' }>>;
  /** Throws DeviceLostError when the device is gone: call before starting work. */
  assertReady(): void;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /**
   * Limits to raise to the adapter's maximum (default: storage-buffer binding and buffer
   * size, so a whole training shard fits in one binding). Unlisted limits stay at defaults.
   */
  raiseToAdapterMax?: (keyof GPUSupportedLimits)[];
  label?: string;
  /**
   * Optional features to enable where the adapter has them (default: `subgroups` and
   * `shader-f16`, which kernel variants use; the autotune decides whether they pay off).
   */
  optionalFeatures?: GPUFeatureName[];
}

const DEFAULT_RAISED: (keyof GPUSupportedLimits)[] = ['maxStorageBufferBindingSize', 'maxBufferSize'];
const DEFAULT_FEATURES: GPUFeatureName[] = ['subgroups', 'shader-f16'];

export async function acquireDevice(gpu: GPU | undefined, opts: AcquireOptions = {}): Promise<GpuContext> {
  if (!gpu) {
    throw new WebGpuUnavailableError('WebGPU is not available in this browser.', {
      details: 'navigator.gpu is undefined: use a browser with WebGPU enabled (Chrome/Edge 113+, Safari 26+, Firefox 141+ on Windows).',
    });
  }
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  if (!adapter) {
    throw new WebGpuUnavailableError('No WebGPU adapter was found.', {
      details: 'requestAdapter() returned null: the GPU may be blocklisted or disabled; check chrome://gpu.',
    });
  }
  const requiredLimits: Record<string, number> = {};
  for (const k of opts.raiseToAdapterMax ?? DEFAULT_RAISED) requiredLimits[k] = adapter.limits[k] as number;
  const requiredFeatures = (opts.optionalFeatures ?? DEFAULT_FEATURES).filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: opts.label ?? 'idlegrad' });
  } catch (cause) {
    throw new WebGpuUnavailableError('The WebGPU adapter refused to create a device.', { cause });
  }

  let state: DeviceState = { status: 'ready' };
  const lost = device.lost.then((info) => {
    state = { status: 'lost', reason: info.reason ?? 'unknown', message: info.message };
    return state;
  });
  const info = adapter.info;
  return {
    device,
    adapter: {
      vendor: info?.vendor ?? '',
      architecture: info?.architecture ?? '',
      device: info?.device ?? '',
      description: info?.description ?? '',
      features: [...adapter.features].sort(),
    },
    limits: limitsToObject(device.limits),
    get state() {
      return state;
    },
    lost,
    assertReady() {
      if (state.status === 'lost') {
        throw new DeviceLostError('The GPU device was lost; reload the page to start again.', {
          details: `reason: ${state.reason}; ${state.message}`,
        });
      }
    },
  };
}

const LIMIT_NAMES = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxBindGroups',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
  'maxDynamicStorageBuffersPerPipelineLayout',
  'maxDynamicUniformBuffersPerPipelineLayout',
] as const;

export function limitsToObject(limits: GPUSupportedLimits): Record<string, number> {
  const out: Record<string, number> = {};
  // Browsers expose limits as prototype getters (enumerable); Dawn for Node may not: read the known names too.
  for (const k in limits) {
    const v = (limits as unknown as Record<string, unknown>)[k];
    if (typeof v === 'number') out[k] = v;
  }
  for (const k of LIMIT_NAMES) if (typeof limits[k] === 'number') out[k] = limits[k];
  return out;
}

/**
 * Runs `fn` inside validation + out-of-memory error scopes and throws GpuValidationError if
 * either caught something. Scopes nest, so this may wrap other scoped calls.
 */
export async function withErrorScope<T>(device: GPUDevice, what: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: fn() };
  } catch (error) {
    outcome = { ok: false, error };
  }
  // Pop both scopes even when fn threw, so the device's scope stack stays balanced.
  const [validation, oom] = await Promise.all([device.popErrorScope(), device.popErrorScope()]);
  if (validation || oom) {
    const kind = validation ? 'validation error' : 'out of memory';
    throw new GpuValidationError(`GPU ${kind} while ${what}.`, {
      details: (validation ?? oom)!.message,
      cause: outcome.ok ? undefined : outcome.error,
    });
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
