// `npm start`'s command line: no flags (only --help), because configuration is the environment
// (coordinator/config.ts). Parsed by coordinator/deploy/start.ts before it builds anything and by
// main.ts when the coordinator is started directly.
import type { CliOption, CliSpec } from '../shared/cli.ts';

export const START_CLI = {
  command: 'npm start --',
  summary: `The idlegrad coordinator: ledger, chain, round engine, HTTP/WebSocket API and the web app on one port.
It is configured by its environment (README "Configuration"): HOST, PORT, IDLEGRAD_DATA_DIR,
DATABASE_URL, RPC_URL, DEPLOYER_KEY, IDLEGRAD_RUN, IDLEGRAD_LOG_LEVEL … (coordinator/config.ts).
Operations: /healthz, /readyz and /metrics on the same port; SIGTERM drains and stops.`,
  options: {},
} as const satisfies CliSpec<Record<string, CliOption>>;
