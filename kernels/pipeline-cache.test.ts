import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShaderCompileError, GpuValidationError } from './errors.ts';
import { withErrorScope } from './device.ts';
import { testGpu } from './test-gpu.ts';

const { ctx, cache } = await testGpu();

const code = `override WG: u32;
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) gid: vec3u) { out[gid.x] = 1.0; }
`;
const bindings = [{ binding: 0, name: 'out', kind: 'storage' }] as const;

test('equal requests share one pipeline; any differing override makes another', async () => {
  const before = cache.size;
  const req = { label: 'probe', code, entryPoint: 'main', constants: { WG: 64 }, bindings };
  const a = cache.get(req);
  const b = cache.get({ ...req, label: 'another label', constants: { WG: 64 } });
  const c = cache.get({ ...req, constants: { WG: 32 } });
  await cache.ready();
  assert.equal(a, b);
  assert.notEqual(a.pipeline, c.pipeline);
  assert.equal(cache.size, before + 2);
});

test('a WGSL error surfaces as ShaderCompileError with label, line and source text', async () => {
  const broken = code.replace('out[gid.x] = 1.0;', 'out[gid.x] = undefinedThing;');
  cache.get({ label: 'broken', code: broken, entryPoint: 'main', constants: { WG: 64 }, bindings });
  const err = await cache.ready().then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(err instanceof ShaderCompileError, `expected ShaderCompileError, got ${err}`);
  assert.match(err.shortMessage, /Kernel "broken" \(main; WG=64\) failed to compile/);
  assert.match(err.details ?? '', /broken:3:\d+: error: .*undefinedThing[\s\S]*out\[gid\.x\] = undefinedThing;/);
  await cache.ready(); // reported once, then the cache is usable again
});

test('pipeline-creation errors (bad override value) are caught too, and none is dropped', async () => {
  // 1024 and 2048 invocations exceed the 256 limit: valid WGSL, invalid pipelines.
  cache.get({ label: 'too-wide', code, entryPoint: 'main', constants: { WG: 1024 }, bindings });
  cache.get({ label: 'wider', code, entryPoint: 'main', constants: { WG: 2048 }, bindings });
  await assert.rejects(cache.ready(), (e: unknown) => {
    assert.ok(e instanceof ShaderCompileError);
    assert.match(e.shortMessage, /2 kernels failed to compile/);
    assert.match(e.details ?? '', /"too-wide"[\s\S]*"wider"/);
    return true;
  });
});

test('withErrorScope turns a validation error into GpuValidationError', async () => {
  const device = ctx.device;
  await assert.rejects(
    withErrorScope(device, 'making a bad buffer', () => device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE })),
    (e: unknown) => e instanceof GpuValidationError && /while making a bad buffer/.test(e.shortMessage),
  );
});
