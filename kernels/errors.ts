// Typed errors of the GPU layer. One base class: `shortMessage` is what a person reads,
// `details` is what a developer needs (compiler output, limits), `cause` chains the original.

export class KernelError extends Error {
  override name = 'KernelError';
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, opts: { details?: string; cause?: unknown } = {}) {
    super(opts.details ? `${shortMessage}\n\n${opts.details}` : shortMessage, { cause: opts.cause });
    this.shortMessage = shortMessage;
    this.details = opts.details;
  }
}

/** navigator.gpu missing, or no adapter/device could be had. */
export class WebGpuUnavailableError extends KernelError {
  override name = 'WebGpuUnavailableError';
}

/** A WGSL module failed to compile or a pipeline failed validation; details hold the compiler messages with line numbers. */
export class ShaderCompileError extends KernelError {
  override name = 'ShaderCompileError';
}

/** A validation or out-of-memory error raised while encoding or submitting GPU work. */
export class GpuValidationError extends KernelError {
  override name = 'GpuValidationError';
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()); the work in flight is gone. */
export class DeviceLostError extends KernelError {
  override name = 'DeviceLostError';
}

/** train() was aborted through its signal; the GPU queue had drained at `idleAt` (epoch ms). */
export class TrainingAbortedError extends KernelError {
  override name = 'TrainingAbortedError';
  readonly stepsDone: number;
  readonly idleAt: number;
  constructor(shortMessage: string, opts: { stepsDone: number; idleAt: number }) {
    super(shortMessage);
    this.stepsDone = opts.stepsDone;
    this.idleAt = opts.idleAt;
  }
}
