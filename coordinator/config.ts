// Platform configuration: one validated object, built from the environment once in
// main.ts and passed down. Every field has a documented default.
import type { Hex } from 'viem';
import type { EpochHooks } from './rewards/index.ts';
import { iceSettingsFromEnv, type IceSettings } from './ice.ts';
import { DEFAULT_RUN, isGptPreset, PRESET_DEFAULTS, PRESETS, validateRunSettings, type Preset, type RunSettings } from '../shared/config.ts';

/** Test hooks, passed in by tests only (production code has no fault switch). */
export interface PlatformHooks {
  epoch?: EpochHooks;
}
import { surfaceLimitsOf, trustedProxiesOf, type SurfaceLimits } from './http/index.ts';
import { LOG_LEVELS, type LogFormat, type LogLevel } from './ops/index.ts';

function positiveMs(env: NodeJS.ProcessEnv, name: string, dflt: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: expected a positive integer of milliseconds, got ${JSON.stringify(raw)}`);
  return v;
}

export interface PlatformConfig {
  /** Interface to listen on. Env HOST. Default 127.0.0.1. */
  host: string;
  /** HTTP/WebSocket port; 0 picks a free one. Env PORT. Default 8080. */
  port: number;
  /** Ledger, chain state and caches. Env IDLEGRAD_DATA_DIR. Default ./.idlegrad */
  dataDir: string;
  /** PostgreSQL instead of the embedded PGlite ledger. Env DATABASE_URL. Default unset. */
  databaseUrl?: string;
  /** With DATABASE_URL: the URL other coordinators relay this one's volunteers to when it leads. Env IDLEGRAD_ADVERTISE_URL. Default: its own http://HOST:PORT/. */
  advertiseUrl?: string;
  /**
   * Cluster mode (issue 17, coordinator/cluster/): the NATS JetStream server(s) the leader journals
   * each round's opening, reports and uploads to before acknowledging them, and that a successor
   * resumes an open round from; the leader also holds the run's committer lease and writes the
   * ledger only under its fencing token. Needs DATABASE_URL. Env IDLEGRAD_NATS_URL (comma-separated
   * nats:// URLs). Default unset: one process, no bus.
   */
  natsUrl?: string;
  /** Cluster mode: how long the committer lease lives unrenewed (what a crash costs before a successor commits). Env IDLEGRAD_COMMITTER_TTL_MS. Default 10000. */
  committerTtlMs?: number;
  /** An EVM JSON-RPC endpoint instead of the embedded anvil. Env RPC_URL. Default unset. */
  rpcUrl?: string;
  /** Deployer/owner key of the distributor. Env DEPLOYER_KEY. Required with RPC_URL (no default); on the embedded chain the default is the data directory's own key (coordinator/owner-key.ts), never a published anvil account. */
  deployerKey?: Hex;
  /** The dev gas faucet (coordinator/faucet.ts): once per account and epoch, for accounts with a claim. Env IDLEGRAD_FAUCET=on|off. Default: on with the embedded chain, off with RPC_URL. */
  faucet?: boolean;
  /** WebSocket limits: hello timeout, sockets per address, message rate (coordinator/surface-limits.ts). Env IDLEGRAD_LIMITS: JSON over the defaults, e.g. {"sessionsPerIp":4}. */
  limits?: SurfaceLimits;
  /** Reverse proxies (addresses, CIDR subnets) whose X-Forwarded-For names the client for the per-address limits (coordinator/http/client-address.ts). Env IDLEGRAD_TRUSTED_PROXIES, comma-separated, e.g. 172.28.0.10 or 10.0.0.0/8. Default none: the direct peer is the client. */
  trustedProxies: string[];
  /** The built web app. Env IDLEGRAD_WEB_DIR (the browser tests serve their e2e build, dist/web-e2e). Default dist/web. */
  webDir: string;
  /** Points where a test stops or observes the platform (e2e/faulty-main.ts); never from the environment. Default none. */
  hooks?: PlatformHooks;
  /** The text a GPT run (run.preset 'gpt') trains on: byte tokens. Env IDLEGRAD_TEXT. Default unset (required for 'gpt'). */
  textPath?: string;
  /** Bearer token for run creation and control (coordinator/http/lead.ts). Env IDLEGRAD_LEAD_TOKEN. Default: generated once and kept in dataDir/lead-token. */
  leadToken?: string;
  /** WalletConnect Cloud project id (32 hex digits): offers WalletConnect to volunteers, loaded lazily. Env IDLEGRAD_WALLETCONNECT_PROJECT_ID. Default unset (no WalletConnect). */
  walletConnectProjectId?: string;
  /** The WalletConnect relay the page connects to. Env IDLEGRAD_WALLETCONNECT_RELAY_URL. Default wss://relay.walletconnect.org */
  walletConnectRelayUrl: string;
  /** A block explorer for the chain (Etherscan/Blockscout paths /tx/, /address/, /token/): the volunteer page links every transaction and address to it. Env IDLEGRAD_EXPLORER_URL. Default unset (no links). */
  explorerUrl?: string;
  /** The chain's name, shown by a wallet asked to add it (EIP-3085). Env IDLEGRAD_CHAIN_NAME. Default unset ("chain <id>"). */
  chainName?: string;
  /** The default run's settings. Env IDLEGRAD_RUN: JSON merged over the defaults (e.g. {"timing":{"trainMs":8000}}). */
  run: RunSettings;
  /** Log records at this level and above (coordinator/ops/logger.ts). Env IDLEGRAD_LOG_LEVEL: fatal|error|warn|info|debug|trace|silent. Default info. */
  logLevel: LogLevel;
  /** One JSON object per line, or text. Env IDLEGRAD_LOG_FORMAT=json|pretty. Default: pretty on a terminal, json otherwise. */
  logFormat?: LogFormat;
  /** SIGTERM/SIGINT: how long the open round may take to commit and the sockets to close before the process stops anyway (coordinator/ops/shutdown.ts). Env IDLEGRAD_SHUTDOWN_TIMEOUT_MS. Default 15000. */
  shutdownTimeoutMs: number;
  /** WebSocket ping interval; a socket that missed a ping is closed (coordinator/ops/heartbeat.ts). Env IDLEGRAD_HEARTBEAT_MS. Default 30000. */
  heartbeatMs: number;
  /** STUN/TURN servers for the pages (coordinator/ice.ts). Env IDLEGRAD_ICE_SERVERS, IDLEGRAD_TURN_URLS, IDLEGRAD_TURN_SECRET, IDLEGRAD_TURN_TTL. Default none (host candidates only). */
  ice: IceSettings;
}

function merge<T>(base: T, over: unknown): T {
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return over === undefined ? base : (over as T);
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out as T;
}

/** The defaults a run override starts from: its preset's, DEFAULT_RUN's when it names none (an unknown one fails validation). */
const presetDefaultsOf = (preset: unknown): RunSettings => (PRESETS.includes(preset as Preset) ? PRESET_DEFAULTS[preset as Preset] : DEFAULT_RUN);

/**
 * The platform's configuration from environment variables. An empty value counts as unset
 * (`DEPLOYER_KEY=` in a compose file or an env file means "no key", not a malformed one).
 */
export function configFromEnv(environment: NodeJS.ProcessEnv, overrides: Partial<PlatformConfig> = {}): PlatformConfig {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(environment).filter(([, v]) => v !== ''));
  const port = Number(env.PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT: expected an integer in [0, 65535], got ${JSON.stringify(env.PORT)}`);
  if (env.DEPLOYER_KEY !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(env.DEPLOYER_KEY)) throw new Error('DEPLOYER_KEY: expected a 32-byte 0x-hex private key');
  if (env.DATABASE_URL && !/^postgres(ql)?:\/\//.test(env.DATABASE_URL))
    throw new Error('DATABASE_URL: expected a postgres:// or postgresql:// connection URL');
  if (env.IDLEGRAD_NATS_URL && !env.IDLEGRAD_NATS_URL.split(',').every((u) => /^(nats|tls|wss?):\/\/[^\s]+$/.test(u.trim())))
    throw new Error(`IDLEGRAD_NATS_URL: expected nats://host:port (comma-separated for several), got ${JSON.stringify(env.IDLEGRAD_NATS_URL)}`);
  if (env.IDLEGRAD_NATS_URL && !env.DATABASE_URL)
    throw new Error('IDLEGRAD_NATS_URL: cluster mode needs DATABASE_URL (the committer lease and the ledger are shared)');
  const committerTtlMs = env.IDLEGRAD_COMMITTER_TTL_MS === undefined ? undefined : Number(env.IDLEGRAD_COMMITTER_TTL_MS);
  if (committerTtlMs !== undefined && !(Number.isInteger(committerTtlMs) && committerTtlMs >= 300))
    throw new Error(`IDLEGRAD_COMMITTER_TTL_MS: expected an integer of at least 300 (ms), got ${JSON.stringify(env.IDLEGRAD_COMMITTER_TTL_MS)}`);
  if (env.IDLEGRAD_WALLETCONNECT_PROJECT_ID && !/^[0-9a-f]{32}$/i.test(env.IDLEGRAD_WALLETCONNECT_PROJECT_ID)) {
    throw new Error(
      `IDLEGRAD_WALLETCONNECT_PROJECT_ID: expected a WalletConnect Cloud project id (32 hex digits), got ${JSON.stringify(env.IDLEGRAD_WALLETCONNECT_PROJECT_ID)}`,
    );
  }
  if (env.IDLEGRAD_WALLETCONNECT_RELAY_URL && !/^wss?:\/\/[^\s]+$/.test(env.IDLEGRAD_WALLETCONNECT_RELAY_URL)) {
    throw new Error(`IDLEGRAD_WALLETCONNECT_RELAY_URL: expected a ws:// or wss:// URL, got ${JSON.stringify(env.IDLEGRAD_WALLETCONNECT_RELAY_URL)}`);
  }
  if (env.IDLEGRAD_EXPLORER_URL && !/^https?:\/\/[^\s]+$/.test(env.IDLEGRAD_EXPLORER_URL))
    throw new Error(`IDLEGRAD_EXPLORER_URL: expected an http:// or https:// URL, got ${JSON.stringify(env.IDLEGRAD_EXPLORER_URL)}`);
  if (env.IDLEGRAD_CHAIN_NAME !== undefined && !/^[^\x00-\x1f]{1,64}$/.test(env.IDLEGRAD_CHAIN_NAME))
    throw new Error(`IDLEGRAD_CHAIN_NAME: expected 1 to 64 printable characters, got ${JSON.stringify(env.IDLEGRAD_CHAIN_NAME)}`);
  if (env.RPC_URL && !env.DEPLOYER_KEY) throw new Error('RPC_URL is set without DEPLOYER_KEY: the coordinator needs a key to deploy and post reward roots');
  if (env.IDLEGRAD_FAUCET !== undefined && !['on', 'off'].includes(env.IDLEGRAD_FAUCET))
    throw new Error(`IDLEGRAD_FAUCET: expected on or off, got ${JSON.stringify(env.IDLEGRAD_FAUCET)}`);
  let limitsOverride: unknown;
  try {
    limitsOverride = env.IDLEGRAD_LIMITS ? JSON.parse(env.IDLEGRAD_LIMITS) : undefined;
  } catch (e) {
    throw new Error(`IDLEGRAD_LIMITS: not valid JSON (${(e as Error).message})`);
  }
  let runOverride: unknown;
  try {
    runOverride = env.IDLEGRAD_RUN ? JSON.parse(env.IDLEGRAD_RUN) : undefined;
  } catch (e) {
    throw new Error(`IDLEGRAD_RUN: not valid JSON (${(e as Error).message})`);
  }
  if (env.IDLEGRAD_LOG_LEVEL && !(LOG_LEVELS as readonly string[]).includes(env.IDLEGRAD_LOG_LEVEL))
    throw new Error(`IDLEGRAD_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(env.IDLEGRAD_LOG_LEVEL)}`);
  if (env.IDLEGRAD_LOG_FORMAT && !['json', 'pretty'].includes(env.IDLEGRAD_LOG_FORMAT))
    throw new Error(`IDLEGRAD_LOG_FORMAT: expected json or pretty, got ${JSON.stringify(env.IDLEGRAD_LOG_FORMAT)}`);
  const cfg: PlatformConfig = {
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir: env.IDLEGRAD_DATA_DIR ?? '.idlegrad',
    databaseUrl: env.DATABASE_URL || undefined,
    rpcUrl: env.RPC_URL || undefined,
    natsUrl: env.IDLEGRAD_NATS_URL || undefined,
    committerTtlMs,
    advertiseUrl: env.IDLEGRAD_ADVERTISE_URL || undefined,
    deployerKey: env.DEPLOYER_KEY as Hex | undefined,
    limits: surfaceLimitsOf(limitsOverride),
    trustedProxies: [...trustedProxiesOf(env.IDLEGRAD_TRUSTED_PROXIES).entries],
    faucet: env.IDLEGRAD_FAUCET === undefined ? undefined : env.IDLEGRAD_FAUCET === 'on',
    leadToken: env.IDLEGRAD_LEAD_TOKEN || undefined,
    webDir: env.IDLEGRAD_WEB_DIR || 'dist/web',
    textPath: env.IDLEGRAD_TEXT || undefined,
    walletConnectProjectId: env.IDLEGRAD_WALLETCONNECT_PROJECT_ID || undefined,
    walletConnectRelayUrl: env.IDLEGRAD_WALLETCONNECT_RELAY_URL || 'wss://relay.walletconnect.org',
    // Without a trailing slash: links append /tx/<hash>.
    explorerUrl: env.IDLEGRAD_EXPLORER_URL?.replace(/\/+$/, '') || undefined,
    chainName: env.IDLEGRAD_CHAIN_NAME || undefined,
    // A GPT run (IDLEGRAD_RUN {"preset":"gpt-small"}, …) starts from its preset's defaults.
    run: merge(presetDefaultsOf((runOverride as Partial<RunSettings> | undefined)?.preset), runOverride),
    ice: iceSettingsFromEnv(env),
    logLevel: (env.IDLEGRAD_LOG_LEVEL || 'info') as LogLevel,
    logFormat: (env.IDLEGRAD_LOG_FORMAT || undefined) as LogFormat | undefined,
    shutdownTimeoutMs: positiveMs(env, 'IDLEGRAD_SHUTDOWN_TIMEOUT_MS', 15_000),
    heartbeatMs: positiveMs(env, 'IDLEGRAD_HEARTBEAT_MS', 30_000),
    ...overrides,
  };
  validateRunSettings(cfg.run);
  if (isGptPreset(cfg.run.preset) && !cfg.textPath)
    throw new Error(`run.preset is "${cfg.run.preset}" but IDLEGRAD_TEXT is not set: give the path of the text file to train on`);
  return cfg;
}
