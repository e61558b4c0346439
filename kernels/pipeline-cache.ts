// Compute pipelines keyed by everything that defines them: the final WGSL source, the entry
// point, the override constants and the bind-group layout. Creation happens once per key,
// inside validation error scopes; compiler messages (with line numbers) surface as a
// ShaderCompileError from `ready()` — never as a silently broken pipeline.
import { ShaderCompileError } from './errors.ts';

export type BindingKind = 'storage' | 'read-only-storage' | 'uniform';

export interface BindingSpec<Name extends string = string> {
  /** @group(0) @binding(n) in the WGSL. */
  binding: number;
  name: Name;
  kind: BindingKind;
  /** Bound with a dynamic offset (one bind group serves every step of a round). */
  dynamicOffset?: boolean;
}

export interface PipelineRequest<Name extends string = string> {
  label: string;
  /** Final WGSL source, exactly as compiled. */
  code: string;
  entryPoint: string;
  /** WGSL `override` values (booleans as 0/1). */
  constants: Record<string, number>;
  bindings: readonly BindingSpec<Name>[];
}

export interface CachedPipeline {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

export class PipelineCache {
  readonly device: GPUDevice;
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, CachedPipeline>();
  private pending: Promise<void>[] = [];

  constructor(device: GPUDevice) {
    this.device = device;
  }

  get size(): number {
    return this.pipelines.size;
  }

  /** The pipeline for `req`, created on first request. Check `ready()` before relying on it. */
  get(req: PipelineRequest): CachedPipeline {
    const key = cacheKey(req);
    const hit = this.pipelines.get(key);
    if (hit) return hit;

    const device = this.device;
    device.pushErrorScope('validation');
    let module = this.modules.get(req.code);
    const newModule = !module;
    if (!module) {
      module = device.createShaderModule({ label: req.label, code: req.code });
      this.modules.set(req.code, module);
    }
    const layout = device.createBindGroupLayout({
      label: req.label,
      entries: req.bindings.map((b) => ({
        binding: b.binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.kind, hasDynamicOffset: b.dynamicOffset ?? false },
      })),
    });
    const pipeline = device.createComputePipeline({
      label: req.label,
      layout: device.createPipelineLayout({ label: req.label, bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: req.entryPoint, constants: req.constants },
    });
    const entry = { pipeline, layout };
    this.pipelines.set(key, entry);

    const checked = module;
    this.pending.push(
      device.popErrorScope().then(async (error) => {
        const compiled = newModule || error ? await compilerMessages(checked, req.code) : { text: '', hasError: false };
        if (!error && !compiled.hasError) return;
        this.pipelines.delete(key);
        this.modules.delete(req.code);
        const consts = Object.entries(req.constants)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ');
        throw new ShaderCompileError(`Kernel "${req.label}" (${req.entryPoint}; ${consts}) failed to compile.`, {
          details: [compiled.text, error?.message].filter(Boolean).join('\n'),
        });
      }),
    );
    return entry;
  }

  /**
   * Resolves once every pipeline requested so far is known good. Rejects with a
   * ShaderCompileError: the failing kernel's own, or one listing all of them when several failed.
   */
  async ready(): Promise<void> {
    const pending = this.pending;
    this.pending = [];
    const failures = (await Promise.allSettled(pending))
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason as ShaderCompileError);
    if (failures.length === 1) throw failures[0];
    if (failures.length > 1) {
      throw new ShaderCompileError(`${failures.length} kernels failed to compile.`, {
        details: failures.map((f) => `${f.shortMessage}\n${f.details ?? ''}`).join('\n\n'),
        cause: failures[0],
      });
    }
  }
}

/** Canonical serialization of the whole request (constants sorted), so equal pipelines share one key. */
function cacheKey(req: PipelineRequest): string {
  const constants = Object.keys(req.constants)
    .sort()
    .map((k) => [k, req.constants[k]]);
  const bindings = req.bindings.map((b) => [b.binding, b.kind, b.dynamicOffset ?? false]);
  return JSON.stringify([req.code, req.entryPoint, constants, bindings]);
}

/** Compiler messages as `label:line:col: severity: text` followed by the offending source line. */
async function compilerMessages(module: GPUShaderModule, code: string): Promise<{ text: string; hasError: boolean }> {
  const info = await module.getCompilationInfo();
  const lines = code.split('\n');
  const text = info.messages
    .map((m) => {
      const src = m.lineNum > 0 ? `\n    ${lines[m.lineNum - 1]?.trim() ?? ''}` : '';
      return `${module.label}:${m.lineNum}:${m.linePos}: ${m.type}: ${m.message}${src}`;
    })
    .join('\n');
  return { text, hasError: info.messages.some((m) => m.type === 'error') };
}
