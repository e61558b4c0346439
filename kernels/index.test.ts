import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as kernels from './index.ts';

// The surface is pinned: adding or removing an export is a deliberate change to this list.
test('kernels/index.ts exports exactly the public surface', () => {
  assert.deepEqual(Object.keys(kernels).sort(), [
    'ADAMW_HYPER',
    'DeviceLostError',
    'GpuValidationError',
    'KernelError',
    'MATMUL_TILE',
    'PipelineCache',
    'ShaderCompileError',
    'TrainingAbortedError',
    'WebGpuUnavailableError',
    'acquireDevice',
    'adamw',
    'adamwKernel',
    'autotuneKernels',
    'autotuneMatmul',
    'biasBackward',
    'biasBackwardKernel',
    'biasForward',
    'biasForwardKernel',
    'checkTrainerMatchesCpu',
    'createBindGroup',
    'createGptTrainer',
    'createMlpTrainer',
    'deviceParamLayout',
    'encodeDispatch',
    'gatherBatchGpu',
    'gatherKernel',
    'limitsToObject',
    'matmul',
    'matmulKernel',
    'readBuffer',
    'runKernelConformance',
    'softmaxXent',
    'softmaxXentKernels',
    'withErrorScope',
    'writeAdamWHyper',
  ]);
});

test('acquireDevice without WebGPU fails with a typed, actionable error', async () => {
  await assert.rejects(kernels.acquireDevice(undefined), (e: unknown) => {
    assert.ok(e instanceof kernels.WebGpuUnavailableError);
    assert.match(e.shortMessage, /WebGPU is not available/);
    return true;
  });
});
