// `npm install`'s postinstall: the `webgpu` package (Dawn for Node: the kernel tests and the
// coordinator's spot-check re-execution) ships dawn.node for five platforms in one package,
// 134 MB, of which this machine loads one (node_modules/webgpu/index.js picks
// dist/<platform>-<arch>). This removes the other four (about 110 MB): the install stays
// under its 500 MB bar. It removes nothing when this platform's build is missing, and
// nothing when webgpu is not installed.
import { existsSync, readdirSync, rmSync } from 'node:fs';

const dist = new URL('../../node_modules/webgpu/dist/', import.meta.url);
const mine = `${process.platform}-${process.platform === 'darwin' ? 'universal' : process.arch}`;
if (!existsSync(dist)) process.exit(0);
const builds = readdirSync(dist, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name);
if (!builds.includes(mine)) {
  console.warn(`prune-dawn: node_modules/webgpu has no build for ${mine} (it has ${builds.join(', ')}); nothing removed`);
  process.exit(0);
}
for (const b of builds) if (b !== mine) rmSync(new URL(`${b}/`, dist), { recursive: true, force: true });
