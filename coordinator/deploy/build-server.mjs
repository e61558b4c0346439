// The coordinator compiled to JavaScript (dist/server), so that `npm start` runs `node` on
// built files and a production install (`npm ci --omit=dev` of the package, the Docker image)
// needs neither tsx nor esbuild. One ESM bundle per entry: start.js (coordinator/deploy/
// start.ts) and one per worker thread that runs TypeScript (every coordinator/**/*-worker.ts,
// bundled as dist/server/<name>.js; coordinator/worker-calls.ts startWorker picks it). What
// the bundles leave out:
//  - npm packages stay external (PGlite's wasm, anvil's binary, Dawn's dawn.node, solc) and
//    resolve from node_modules at run time: production dependencies only;
//  - the plain-JavaScript workers (*-worker.mjs) are run from coordinator/ as they are;
//  - files read beside a module (the contracts' .sol sources, the MNIST digits, dist/web,
//    dist/contracts) stay where they are in the package: each module's `import.meta.url` is
//    rewritten to its source file's URL (relative to the bundle, so the package can move).
// `.wgsl?raw` imports load as text, as Vite and kernels/wgsl-register.mjs load them.
//
// `node coordinator/deploy/build-server.mjs` (npm start's prestart) builds when dist/server is
// missing or older than its sources, and does nothing where esbuild is not installed (a
// production install, which runs the dist/server its package holds); `--force` always builds
// (prepack).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const SERVER_DIR = join(ROOT, 'dist', 'server');
const SOURCE_DIRS = ['coordinator', 'shared', 'kernels', 'web/optional-packages.ts'];

/** Every worker entry written in TypeScript: bundled as dist/server/<basename>.js. */
export function workerEntries(dir = join(ROOT, 'coordinator')) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? workerEntries(join(dir, e.name)) : e.name.endsWith('-worker.ts') ? [join(dir, e.name)] : [],
  );
}

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** True when dist/server/start.js exists and is newer than every source it is built from. */
export function serverBuildIsCurrent() {
  const start = join(SERVER_DIR, 'start.js');
  if (!existsSync(start)) return false;
  const sources = Math.max(
    ...SOURCE_DIRS.map((d) => join(ROOT, d))
      .filter(existsSync)
      .map(newest),
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
  );
  return statSync(start).mtimeMs >= sources;
}

/** Builds dist/server with esbuild (a devDependency); returns the bundles' paths. */
export async function buildServer() {
  const esbuild = await import('esbuild');
  const entryPoints = [{ in: join(ROOT, 'coordinator/deploy/start.ts'), out: 'start' }].concat(
    workerEntries().map((f) => ({ in: f, out: f.split('/').pop().replace(/\.ts$/, '') })),
  );
  const names = new Set(entryPoints.map((e) => e.out));
  if (names.size !== entryPoints.length) throw new Error(`two worker entries share a name: ${entryPoints.map((e) => e.in).join(', ')}`);
  const sourceUrls = {
    name: 'source-urls',
    setup(build) {
      // `x.wgsl?raw` → the file's text.
      build.onResolve({ filter: /\.wgsl\?raw$/ }, (a) => ({ path: join(a.resolveDir, a.path.replace(/\?raw$/, '')) }));
      // import.meta.url → the module's own source file, wherever the package is unpacked.
      build.onLoad({ filter: /\.(ts|mjs)$/ }, (a) => {
        if (a.path.includes('/node_modules/')) return undefined;
        const text = readFileSync(a.path, 'utf8');
        if (!text.includes('import.meta.url')) return undefined;
        const rel = relative(SERVER_DIR, a.path);
        return {
          contents: text.replaceAll('import.meta.url', `new URL(${JSON.stringify(rel)}, import.meta.url).href`),
          loader: a.path.endsWith('.ts') ? 'ts' : 'js',
          resolveDir: dirname(a.path),
        };
      });
    },
  };
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints,
    outdir: SERVER_DIR,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    loader: { '.wgsl': 'text' },
    define: { __IDLEGRAD_SERVER_BUILD__: 'true' },
    plugins: [sourceUrls],
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  if (result.errors.length > 0) throw new Error(`esbuild: ${result.errors.length} errors`);
  return entryPoints.map((e) => join(SERVER_DIR, `${e.out}.js`));
}

const canBuild = () => existsSync(join(ROOT, 'node_modules/esbuild/package.json')) && existsSync(join(ROOT, 'coordinator/deploy/start.ts'));

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  if (!canBuild()) {
    if (force || !existsSync(join(SERVER_DIR, 'start.js'))) {
      console.error(
        `build-server: no esbuild here (a production install) and ${force ? '--force asks for a build' : `no built coordinator in ${relative(ROOT, SERVER_DIR)}`}: ` +
          'install with dev dependencies (npm install) or use a built package (npm pack)',
      );
      process.exit(1);
    }
  } else if (force || !serverBuildIsCurrent()) {
    const t = performance.now();
    const built = await buildServer();
    console.error(`build-server: ${built.length} bundles in ${relative(ROOT, SERVER_DIR)} (${Math.round(performance.now() - t)} ms)`);
  }
}
