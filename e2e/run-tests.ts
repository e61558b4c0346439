// `npm test`: every *.test.ts in the tree, through Node's test runner, one file at a time
// (browser and GPU tests share two cores). Sets the Vulkan driver for Dawn to Chromium's
// SwiftShader when the machine has no other (kernels/swiftshader.ts, DESIGN.md).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { useSwiftShaderWhenNoDriver } from '../kernels/swiftshader.ts';

const roots = ['shared', 'kernels', 'coordinator', 'web', 'e2e'];
const files: string[] = [];
const walk = (dir: string) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const r of roots) if (existsSync(r)) walk(r);
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
files.sort();

const env = { ...process.env };
useSwiftShaderWhenNoDriver(env);

console.log(`running ${selected.length} test files`);
// --test-force-exit: the `peer` PeerServer re-arms two internal timers forever and has no
// way to stop them, so a test file that ran the coordinator in-process would never exit.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--import', './kernels/wgsl-register.mjs', '--test', '--test-concurrency=1', '--test-force-exit', ...selected.sort()],
  { stdio: 'inherit', env },
);
process.exit(r.status ?? 1);
