// Node loader for `import src from './x.wgsl?raw'` (the same specifier Vite serves in the
// browser build): `node --import tsx --import ./kernels/wgsl-register.mjs ...`.
import { register } from 'node:module';

register('./wgsl-hooks.mjs', import.meta.url);
