// `npm start`: the coordinator on the configuration of its environment (coordinator/config.ts).
// It takes no flags (only --help): configuration is the environment, one validated object.
import { parseCli, type CliOption, type CliSpec } from '../shared/cli.ts';
import { configFromEnv } from './config.ts';
import { serve } from './serve.ts';

const START_CLI = {
  command: 'npm start --',
  summary: `The idlegrad coordinator: ledger, chain, round engine, HTTP/WebSocket API and the web app on one port.
It is configured by its environment (README "Configuration"): HOST, PORT, IDLEGRAD_DATA_DIR,
DATABASE_URL, RPC_URL, DEPLOYER_KEY, IDLEGRAD_RUN, IDLEGRAD_LOG_LEVEL … (coordinator/config.ts).
Operations: /healthz, /readyz and /metrics on the same port; SIGTERM drains and stops.`,
  options: {},
} as const satisfies CliSpec<Record<string, CliOption>>;

parseCli(START_CLI);
await serve(configFromEnv(process.env));
