// Typed errors of the GPU layer: BaseError (shared/errors.ts) with a code per class.
// `shortMessage` is what a person reads, `details` is what a developer needs (compiler output,
// limits), `cause` chains the original. Identity is by class or code; the training worker's
// errors cross comlink as SerializedError and are revived into these classes by reviveKernelError.
import { BaseError, type ErrorOptions, type SerializedError } from '../shared/errors.ts';

export type KernelErrorCode = 'KERNEL_FAILED' | 'WEBGPU_UNAVAILABLE' | 'SHADER_COMPILE' | 'GPU_VALIDATION' | 'DEVICE_LOST' | 'TRAINING_ABORTED';

export class KernelError extends BaseError<KernelErrorCode> {
  override name = 'KernelError';
  constructor(shortMessage: string, opts: ErrorOptions = {}, code: KernelErrorCode = 'KERNEL_FAILED') {
    super(code, shortMessage, opts);
  }
}

/** navigator.gpu missing, or no adapter/device could be had. */
export class WebGpuUnavailableError extends KernelError {
  override name = 'WebGpuUnavailableError';
  constructor(shortMessage: string, opts: ErrorOptions = {}) {
    super(shortMessage, opts, 'WEBGPU_UNAVAILABLE');
  }
}

/** A WGSL module failed to compile or a pipeline failed validation; details hold the compiler messages with line numbers. */
export class ShaderCompileError extends KernelError {
  override name = 'ShaderCompileError';
  constructor(shortMessage: string, opts: ErrorOptions = {}) {
    super(shortMessage, opts, 'SHADER_COMPILE');
  }
}

/** A validation or out-of-memory error raised while encoding or submitting GPU work. */
export class GpuValidationError extends KernelError {
  override name = 'GpuValidationError';
  constructor(shortMessage: string, opts: ErrorOptions = {}) {
    super(shortMessage, opts, 'GPU_VALIDATION');
  }
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()); the work in flight is gone. */
export class DeviceLostError extends KernelError {
  override name = 'DeviceLostError';
  constructor(shortMessage: string, opts: ErrorOptions = {}) {
    super(shortMessage, opts, 'DEVICE_LOST');
  }
}

/** train() was aborted through its signal; the GPU queue had drained at `idleAt` (epoch ms). */
export class TrainingAbortedError extends KernelError {
  override name = 'TrainingAbortedError';
  readonly stepsDone: number;
  readonly idleAt: number;
  constructor(shortMessage: string, opts: { stepsDone: number; idleAt: number }) {
    super(shortMessage, {}, 'TRAINING_ABORTED');
    this.stepsDone = opts.stepsDone;
    this.idleAt = opts.idleAt;
  }
}

const KERNEL_ERRORS: Record<Exclude<KernelErrorCode, 'TRAINING_ABORTED'>, new (shortMessage: string, opts?: ErrorOptions) => KernelError> = {
  KERNEL_FAILED: KernelError,
  WEBGPU_UNAVAILABLE: WebGpuUnavailableError,
  SHADER_COMPILE: ShaderCompileError,
  GPU_VALIDATION: GpuValidationError,
  DEVICE_LOST: DeviceLostError,
};

/**
 * A serialized error from the training worker as the class it was thrown as, so the page tells
 * them apart by class (an aborted round keeps no step counts: -1). Other errors come back as a
 * plain Error with the same message.
 */
export function reviveKernelError(s: SerializedError): Error {
  const opts = s.details === null ? {} : { details: s.details };
  if (s.code === 'TRAINING_ABORTED') return new TrainingAbortedError(s.shortMessage, { stepsDone: -1, idleAt: -1 });
  if (s.code !== null && Object.hasOwn(KERNEL_ERRORS, s.code)) return new KERNEL_ERRORS[s.code as keyof typeof KERNEL_ERRORS](s.shortMessage, opts);
  const e = new Error(s.details === null ? s.shortMessage : `${s.shortMessage} (${s.details})`);
  e.name = s.name;
  return e;
}
