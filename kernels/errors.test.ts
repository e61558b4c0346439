import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BaseError, serializeError } from '../shared/errors.ts';
import {
  DeviceLostError,
  GpuValidationError,
  KernelError,
  reviveKernelError,
  ShaderCompileError,
  TrainingAbortedError,
  WebGpuUnavailableError,
} from './errors.ts';

test('kernel errors carry a code per class and come back as their class across a serialization', () => {
  const cases = [
    [new KernelError('trainer destroyed'), 'KERNEL_FAILED'],
    [new WebGpuUnavailableError('no adapter', { details: 'navigator.gpu is missing' }), 'WEBGPU_UNAVAILABLE'],
    [new ShaderCompileError('kernel failed to compile', { details: 'matmul:3:1 error' }), 'SHADER_COMPILE'],
    [new GpuValidationError('validation error while dispatching'), 'GPU_VALIDATION'],
    [new DeviceLostError('device lost', { details: 'reason: destroyed' }), 'DEVICE_LOST'],
    [new TrainingAbortedError('stopped after 2 of 5 steps', { stepsDone: 2, idleAt: 1 }), 'TRAINING_ABORTED'],
  ] as const;
  for (const [e, code] of cases) {
    assert.ok(e instanceof BaseError && e instanceof KernelError);
    assert.equal(e.code, code);
    const back = reviveKernelError(structuredClone(serializeError(e)));
    assert.equal(back.constructor, e.constructor, `${code} revives as ${back.constructor.name}`);
    assert.ok(back instanceof KernelError && back.code === code && back.shortMessage === e.shortMessage && back.details === e.details);
  }
});

test('an error without a kernel code revives as a plain Error with its message and details', () => {
  const back = reviveKernelError(serializeError(new RangeError('window index 9 outside dataset of 4')));
  assert.ok(!(back instanceof KernelError));
  assert.equal(back.message, 'window index 9 outside dataset of 4');
  assert.equal(back.name, 'RangeError');
  const withDetails = reviveKernelError({ name: 'IdlegradError', code: 'BAD_FRAME', shortMessage: 'bad', details: 'why' });
  assert.equal(withDetails.message, 'bad (why)');
});
