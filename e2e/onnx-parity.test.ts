// `npm run onnx-parity -- --json`: the last line is the machine-readable summary, and the
// exported model agrees with our WGSL forward pass (Dawn) within 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

const parity = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', '--import', './kernels/wgsl-register.mjs', 'e2e/onnx-parity.ts', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });

test('onnx-parity --json: every preset model agrees with the WGSL forward within 1e-4', () => {
  const r = parity(['--json', '--batch', '16']);
  assert.equal(r.status, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { models: number; maxAbsDiff: number };
  assert.ok(last.models >= 2, `models ${last.models}`);
  assert.ok(last.maxAbsDiff <= 1e-4, `maxAbsDiff ${last.maxAbsDiff}`);
  assert.match(r.stdout, /mnist-mlp \(initial, seed 1\): \d+ bytes of ONNX, 160 outputs/);
  // GPT_DEFAULT: 8 sequences × context 64 × vocab 256 logits, at the init and after training.
  assert.match(r.stdout, /GPT 2×64 \(initial, seed 1\): \d+ bytes of ONNX, 131072 outputs/);
  assert.match(r.stdout, /GPT 2×64 \(after 5 AdamW steps on grammar text\): \d+ bytes of ONNX, 131072 outputs/);
});

test('onnx-parity refuses bad arguments by name', () => {
  const r = parity(['--batch', '0']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--batch: expected an integer in \[1, 4096\], got 0/);
  assert.match(parity(['--frobnicate']).stderr, /unknown argument --frobnicate/);
});
