// kernels/: everything WebGPU — one folder per op (WGSL, spec, CPU reference, tests), device
// acquisition, the pipeline cache, the MLP and GPT trainers; this file is its public surface,
// what web/ and coordinator/ may import, by name. Node-only pieces have their own entry
// (node-gpu.ts: Dawn for Node); benchmarks, harnesses and numbered kernel versions live in dev/.

export { acquireDevice, limitsToObject, withErrorScope } from './device.ts';
export type { AcquireOptions, AdapterSummary, DeviceState, GpuContext } from './device.ts';

export { DeviceLostError, GpuValidationError, KernelError, ShaderCompileError, TrainingAbortedError, WebGpuUnavailableError } from './errors.ts';

export { PipelineCache } from './pipeline-cache.ts';
export type { BindingKind, BindingSpec, CachedPipeline, PipelineRequest } from './pipeline-cache.ts';

export { createMlpTrainer, deviceParamLayout } from './mlp-trainer.ts';
export type { DeviceParamLayout, MlpTrainer, MlpTrainerOptions, TrainArgs, TrainResult } from './mlp-trainer.ts';

export { createGptTrainer } from './gpt-trainer.ts';
export type { GptTrainArgs, GptTrainer, GptTrainerOptions, GptTrainResult } from './gpt-trainer.ts';

export { createBindGroup, encodeDispatch, readBuffer } from './kernel.ts';
export type { Kernel } from './kernel.ts';

export { matmul, matmulKernel, MATMUL_TILE } from './matmul/matmul.ts';
export type { MatmulConfig, MatmulShape } from './matmul/matmul.ts';
export { autotuneMatmul } from './matmul/autotune.ts';
export { autotuneKernels } from './autotune.ts';
export type { KernelAutotuneOptions, KernelChoice, KernelTuneResult } from './autotune.ts';
export type { MatmulAutotuneOptions, MatmulTuneResult, MatmulTuneStore } from './matmul/autotune.ts';
export { biasBackward, biasBackwardKernel, biasForward, biasForwardKernel } from './bias_relu/bias_relu.ts';
export type { BiasShape } from './bias_relu/bias_relu.ts';
export { softmaxXent, softmaxXentKernels } from './softmax_xent/softmax_xent.ts';
export type { XentShape } from './softmax_xent/softmax_xent.ts';
export { adamw, adamwKernel, ADAMW_HYPER, writeAdamWHyper } from './adamw/adamw.ts';
export { gatherBatchGpu, gatherKernel } from './gather_batch/gather_batch.ts';

export { checkTrainerMatchesCpu, runKernelConformance } from './conformance.ts';
export type { CheckResult, TrainerCheckOptions } from './conformance.ts';
