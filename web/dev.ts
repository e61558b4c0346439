// `npm run dev`, for people changing the UI: the coordinator as `npm start` runs it (its own
// port, IDLEGRAD_COORDINATOR_PORT, default 8787) and Vite's dev server in front of it (PORT,
// default 5173) with hot reload of the Svelte pages, forwarding /api, /ws, /peerjs and /rpc to
// the coordinator. Ctrl-C stops both.
import { spawn } from 'node:child_process';
import { createServer } from 'vite';
import { parseCli, type CliOption, type CliSpec } from '../shared/cli.ts';

const DEV_CLI = {
  command: 'npm run dev --',
  summary: `For UI work: the coordinator (as npm start runs it) on IDLEGRAD_COORDINATOR_PORT (default 8787) behind
Vite's dev server on PORT (default 5173) with hot reload; /api, /ws, /peerjs, /rpc and the
operations routes are forwarded. Configured by the environment like npm start. Ctrl-C stops both.`,
  options: {},
} as const satisfies CliSpec<Record<string, CliOption>>;
parseCli(DEV_CLI);

const coordinatorPort = Number(process.env.IDLEGRAD_COORDINATOR_PORT ?? 8787);
const target = `http://127.0.0.1:${coordinatorPort}`;
const coordinator = spawn(process.execPath, ['--import', 'tsx', 'coordinator/main.ts'], {
  env: { ...process.env, PORT: String(coordinatorPort) },
  stdio: 'inherit',
});
coordinator.once('exit', (code) => {
  console.error(`the coordinator exited (${code}): stopping the dev server`);
  void server.close().then(() => process.exit(code ?? 1));
});

const server = await createServer({
  configFile: 'vite.config.ts',
  server: {
    port: Number(process.env.PORT ?? 5173),
    strictPort: true,
    proxy: {
      '/api': target,
      '/rpc': target,
      '/healthz': target,
      '/readyz': target,
      '/metrics': target,
      '/ws': { target, ws: true },
      '/peerjs': { target, ws: true },
    },
  },
});
await server.listen();
console.log(`\nidlegrad dev server (hot reload) in front of the coordinator at ${target}:`);
server.printUrls();

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    coordinator.removeAllListeners('exit');
    coordinator.kill('SIGINT');
    void server.close().then(() => coordinator.once('exit', () => process.exit(0)));
  });
}
