import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv } from './config.ts';
import { DEFAULT_GPT_RUN, DEFAULT_RUN, PRESET_DEFAULTS } from '../shared/config.ts';
import { GPT_SMALL } from '../shared/model.ts';

test('a GPT run needs IDLEGRAD_TEXT; the preset is validated by name', () => {
  assert.throws(() => configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt"}' }), /run\.preset is "gpt" but IDLEGRAD_TEXT is not set/);
  const cfg = configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt","gpt":{"layers":1}}', IDLEGRAD_TEXT: '/data/corpus.txt' });
  assert.equal(cfg.textPath, '/data/corpus.txt');
  assert.equal(cfg.run.preset, 'gpt');
  assert.equal(cfg.run.gpt?.layers, 1);
  // A GPT run starts from the GPT preset's defaults (its own codec and inner steps), not the MLP's.
  assert.deepEqual(cfg.run.codec, DEFAULT_GPT_RUN.codec);
  assert.deepEqual(cfg.run.inner, DEFAULT_GPT_RUN.inner);
  assert.equal(cfg.run.gpt?.width, DEFAULT_GPT_RUN.gpt?.width);
  assert.throws(
    () => configFromEnv({ IDLEGRAD_RUN: '{"preset":"transformer"}' }),
    /run\.preset: expected one of mlp, gpt-micro, gpt-small, gpt-base, gpt, got "transformer"/,
  );
  // A GPT by size starts from its own preset's defaults.
  assert.throws(() => configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt-small"}' }), /run\.preset is "gpt-small" but IDLEGRAD_TEXT is not set/);
  const small = configFromEnv({ IDLEGRAD_RUN: '{"preset":"gpt-small","inner":{"steps":2}}', IDLEGRAD_TEXT: '/data/corpus.txt' }).run;
  assert.deepEqual([small.gpt, small.inner.steps, small.inner.batchSize, small.codec], [GPT_SMALL, 2, 4, PRESET_DEFAULTS['gpt-small'].codec]);
  assert.equal(configFromEnv({}).run.preset, 'mlp');
  assert.deepEqual(configFromEnv({}).run.codec, DEFAULT_RUN.codec);
});

test('WalletConnect is off without a project id; a malformed project id or relay URL is named', () => {
  const off = configFromEnv({});
  assert.equal(off.walletConnectProjectId, undefined);
  assert.equal(off.walletConnectRelayUrl, 'wss://relay.walletconnect.org');
  const on = configFromEnv({ IDLEGRAD_WALLETCONNECT_PROJECT_ID: '0123456789abcdef0123456789ABCDEF', IDLEGRAD_WALLETCONNECT_RELAY_URL: 'ws://127.0.0.1:9000' });
  assert.equal(on.walletConnectProjectId, '0123456789abcdef0123456789ABCDEF');
  assert.equal(on.walletConnectRelayUrl, 'ws://127.0.0.1:9000');
  assert.throws(
    () => configFromEnv({ IDLEGRAD_WALLETCONNECT_PROJECT_ID: 'my-project' }),
    /IDLEGRAD_WALLETCONNECT_PROJECT_ID: expected a WalletConnect Cloud project id \(32 hex digits\), got "my-project"/,
  );
  assert.throws(
    () => configFromEnv({ IDLEGRAD_WALLETCONNECT_RELAY_URL: 'https://relay.example' }),
    /IDLEGRAD_WALLETCONNECT_RELAY_URL: expected a ws:\/\/ or wss:\/\/ URL, got "https:\/\/relay.example"/,
  );
});

test('the explorer URL and chain name are optional; a malformed one is named', () => {
  const off = configFromEnv({});
  assert.equal(off.explorerUrl, undefined);
  assert.equal(off.chainName, undefined);
  const on = configFromEnv({ IDLEGRAD_EXPLORER_URL: 'https://sepolia.basescan.org/', IDLEGRAD_CHAIN_NAME: 'Base Sepolia' });
  assert.equal(on.explorerUrl, 'https://sepolia.basescan.org');
  assert.equal(on.chainName, 'Base Sepolia');
  assert.throws(
    () => configFromEnv({ IDLEGRAD_EXPLORER_URL: 'basescan.org' }),
    /IDLEGRAD_EXPLORER_URL: expected an http:\/\/ or https:\/\/ URL, got "basescan.org"/,
  );
  assert.equal(configFromEnv({ IDLEGRAD_CHAIN_NAME: '' }).chainName, undefined, 'empty: unset');
  assert.throws(() => configFromEnv({ IDLEGRAD_CHAIN_NAME: 'x'.repeat(65) }), /IDLEGRAD_CHAIN_NAME: expected 1 to 64 printable characters/);
});

test('ICE settings come from the environment (coordinator/ice.ts); none by default', () => {
  assert.deepEqual(configFromEnv({}).ice, { servers: [], turn: null });
  const cfg = configFromEnv({
    IDLEGRAD_ICE_SERVERS: '[{"urls":"stun:stun.example:3478"}]',
    IDLEGRAD_TURN_URLS: 'turn:turn.example:3478',
    IDLEGRAD_TURN_SECRET: 'a-secret-of-16-chars',
  });
  assert.deepEqual(cfg.ice, {
    servers: [{ urls: 'stun:stun.example:3478' }],
    turn: { urls: ['turn:turn.example:3478'], secret: 'a-secret-of-16-chars', ttlS: 3600 },
  });
  assert.throws(() => configFromEnv({ IDLEGRAD_ICE_SERVERS: '[{"urls":"ftp:x"}]' }), /IDLEGRAD_ICE_SERVERS\[0\]\.urls: expected a stun:/);
});

test('RPC_URL needs DEPLOYER_KEY (no default owner); the faucet follows IDLEGRAD_FAUCET, unset means the platform decides', () => {
  assert.throws(() => configFromEnv({ RPC_URL: 'http://127.0.0.1:8545' }), /RPC_URL is set without DEPLOYER_KEY/);
  assert.equal(configFromEnv({}).deployerKey, undefined);
  assert.equal(configFromEnv({}).faucet, undefined);
  assert.equal(configFromEnv({ IDLEGRAD_FAUCET: 'on' }).faucet, true);
  assert.equal(configFromEnv({ IDLEGRAD_FAUCET: 'off' }).faucet, false);
  assert.throws(() => configFromEnv({ IDLEGRAD_FAUCET: 'yes' }), /IDLEGRAD_FAUCET: expected on or off, got "yes"/);
});

test('operations settings: log level and format, shutdown timeout, heartbeat; a bad value is named', () => {
  const d = configFromEnv({});
  assert.deepEqual([d.logLevel, d.logFormat, d.shutdownTimeoutMs, d.heartbeatMs], ['info', undefined, 15_000, 30_000]);
  const cfg = configFromEnv({ IDLEGRAD_LOG_LEVEL: 'debug', IDLEGRAD_LOG_FORMAT: 'json', IDLEGRAD_SHUTDOWN_TIMEOUT_MS: '5000', IDLEGRAD_HEARTBEAT_MS: '1000' });
  assert.deepEqual([cfg.logLevel, cfg.logFormat, cfg.shutdownTimeoutMs, cfg.heartbeatMs], ['debug', 'json', 5_000, 1_000]);
  assert.throws(
    () => configFromEnv({ IDLEGRAD_LOG_LEVEL: 'loud' }),
    /IDLEGRAD_LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/,
  );
  assert.throws(() => configFromEnv({ IDLEGRAD_LOG_FORMAT: 'xml' }), /IDLEGRAD_LOG_FORMAT: expected json or pretty/);
  assert.throws(
    () => configFromEnv({ IDLEGRAD_SHUTDOWN_TIMEOUT_MS: '0' }),
    /IDLEGRAD_SHUTDOWN_TIMEOUT_MS: expected a positive integer of milliseconds, got "0"/,
  );
  assert.throws(() => configFromEnv({ IDLEGRAD_HEARTBEAT_MS: '1.5' }), /IDLEGRAD_HEARTBEAT_MS/);
});

test('an empty variable counts as unset: the default applies, nothing is refused', () => {
  const names = [
    'HOST',
    'PORT',
    'IDLEGRAD_DATA_DIR',
    'IDLEGRAD_TRUSTED_PROXIES',
    'DEPLOYER_KEY',
    'RPC_URL',
    'DATABASE_URL',
    'IDLEGRAD_FAUCET',
    'IDLEGRAD_LIMITS',
    'IDLEGRAD_RUN',
    'IDLEGRAD_LOG_LEVEL',
  ];
  const empty = configFromEnv(Object.fromEntries(names.map((n) => [n, ''])));
  assert.deepEqual(empty, configFromEnv({}));
  assert.equal(empty.deployerKey, undefined);
  assert.equal(empty.port, 8080);
  assert.equal(empty.host, '127.0.0.1');
  assert.equal(empty.faucet, undefined);
  // A value that is there is still checked.
  assert.throws(() => configFromEnv({ DEPLOYER_KEY: '0x12' }), /DEPLOYER_KEY: expected a 32-byte 0x-hex private key/);
});

test('IDLEGRAD_TRUSTED_PROXIES: none by default; addresses and subnets; a bad entry is named', () => {
  assert.deepEqual(configFromEnv({}).trustedProxies, []);
  assert.deepEqual(configFromEnv({ IDLEGRAD_TRUSTED_PROXIES: '172.28.0.10,fd00::/8' }).trustedProxies, ['172.28.0.10', 'fd00::/8']);
  assert.throws(() => configFromEnv({ IDLEGRAD_TRUSTED_PROXIES: 'caddy' }), /IDLEGRAD_TRUSTED_PROXIES: "caddy" is not an IP address/);
});
