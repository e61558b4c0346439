// Typed errors of the GPU layer: BaseError (shared/errors.ts) with a code per class.
// `shortMessage` is what a person reads, `details` is what a developer needs (compiler output,
// limits), `cause` chains the original. Identity is by class or code; the training worker's
// errors cross comlink as SerializedError and are revived into these classes by reviveKernelError.
import { BaseError, type ErrorOptions, type SerializedError } from '../shared/errors.ts';

export type KernelErrorCode = 'KERNEL_FAILED' | 'WEBGPU_UNAVAILABLE' | 'SHADER_COMPILE' | 'GPU_VALIDATION' | 'DEVICE_LOST' | 'TRAINING_ABORTED';

export class KernelError extends BaseError<KernelErrorCode> {
  /** Each class's code: the constructor takes it from the class it builds. */
  static readonly code: KernelErrorCode = 'KERNEL_FAILED';
  override name = 'KernelError';
  constructor(shortMessage: string, opts: ErrorOptions = {}) {
    super((new.target as typeof KernelError).code, shortMessage, opts);
  }
}

/** navigator.gpu missing, or no adapter/device could be had. */
export class WebGpuUnavailableError extends KernelError {
  static override readonly code = 'WEBGPU_UNAVAILABLE';
  override name = 'WebGpuUnavailableError';
}

/** A WGSL module failed to compile or a pipeline failed validation; details hold the compiler messages with line numbers. */
export class ShaderCompileError extends KernelError {
  static override readonly code = 'SHADER_COMPILE';
  override name = 'ShaderCompileError';
}

/** A validation or out-of-memory error raised while encoding or submitting GPU work. */
export class GpuValidationError extends KernelError {
  static override readonly code = 'GPU_VALIDATION';
  override name = 'GpuValidationError';
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()); the work in flight is gone. */
export class DeviceLostError extends KernelError {
  static override readonly code = 'DEVICE_LOST';
  override name = 'DeviceLostError';
}

/** train() was aborted through its signal; the GPU queue had drained at `idleAt` (epoch ms). */
export class TrainingAbortedError extends KernelError {
  static override readonly code = 'TRAINING_ABORTED';
  override name = 'TrainingAbortedError';
  readonly stepsDone: number;
  readonly idleAt: number;
  constructor(shortMessage: string, opts: { stepsDone: number; idleAt: number }) {
    super(shortMessage);
    this.stepsDone = opts.stepsDone;
    this.idleAt = opts.idleAt;
  }
}

const KERNEL_ERRORS = [KernelError, WebGpuUnavailableError, ShaderCompileError, GpuValidationError, DeviceLostError];

/**
 * A serialized error from the training worker as the class it was thrown as, so the page tells
 * them apart by class (an aborted round keeps no step counts: -1). Other errors come back as a
 * plain Error with the same message.
 */
export function reviveKernelError(s: SerializedError): Error {
  const opts = s.details === null ? {} : { details: s.details };
  if (s.code === TrainingAbortedError.code) return new TrainingAbortedError(s.shortMessage, { stepsDone: -1, idleAt: -1 });
  const Class = KERNEL_ERRORS.find((c) => c.code === s.code);
  if (Class) return new Class(s.shortMessage, opts);
  const e = new Error(s.details === null ? s.shortMessage : `${s.shortMessage} (${s.details})`);
  e.name = s.name;
  return e;
}
