// Module hooks registered by wgsl-register.mjs: `*.wgsl?raw` loads as `export default <file text>`.
import { readFile } from 'node:fs/promises';

export async function load(url, context, nextLoad) {
  const u = new URL(url);
  if (u.protocol === 'file:' && u.pathname.endsWith('.wgsl') && u.search === '?raw') {
    const text = await readFile(new URL(u.pathname, u), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
