// Starts a local anvil (from the @foundry-rs/anvil npm package) as the embedded default chain.
// Only the coordinator's startup and tests use this; chain.ts talks to any RPC URL.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import { ChainError } from '../../shared/chain/errors.ts';

const require = createRequire(import.meta.url);

/**
 * DEV ONLY. The private keys of anvil's default mnemonic ("test test … junk"). They are
 * published in every Foundry/Hardhat tutorial: anything they hold on a real network is stolen
 * within seconds. Never use them with an RPC_URL other than a local dev chain.
 */
export const DEV_ACCOUNT_KEYS = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
] as const satisfies readonly Hex[];

/** DEV ONLY (see DEV_ACCOUNT_KEYS): anvil's account 0, 0xf39F…2266, the default deployer. */
export const DEV_DEPLOYER_KEY: Hex = DEV_ACCOUNT_KEYS[0];

export interface DevAccount {
  address: Address;
  privateKey: Hex;
}

export interface AnvilOptions {
  /** TCP port on 127.0.0.1. Default 0: the OS picks a free one (read back from anvil's log). */
  port?: number;
  /** If set, the chain is loaded from and saved to `<dataDir>/anvil-state.json`, so it survives
   *  a restart. Default: none, a fresh chain every start. */
  dataDir?: string;
  /** Default 31337, anvil's own default. */
  chainId?: number;
  /** How often (seconds) the state is also saved while running, so a crash loses at most this
   *  much; it is always saved on stop(). Only with dataDir. Default 5. */
  stateIntervalS?: number;
  /** How long to wait for eth_chainId to answer. Default 15000 ms. */
  startTimeoutMs?: number;
  /** Path to an anvil binary; default: the one @foundry-rs/anvil installed for this platform. */
  binary?: string;
}

export interface Anvil {
  rpcUrl: string;
  chainId: number;
  port: number;
  pid: number;
  /** The state file when dataDir was given. */
  statePath: string | undefined;
  /** The ten funded dev accounts (10 000 ETH each on a fresh chain); [0] is the deployer. */
  accounts: readonly DevAccount[];
  /** SIGTERM (anvil then saves its state), SIGKILL after 5 s. Safe to call twice. */
  stop(): Promise<void>;
}

const LOG_LINES_KEPT = 20;
const KILL_GRACE_MS = 5_000;

// One process-wide 'exit' hook for every anvil still running (instead of one listener per
// instance, which would trip Node's MaxListeners warning in tests). 'exit' handlers must be
// synchronous: sending the signal is all that can happen there.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGTERM');
    });
  }
  child.once('exit', () => running.delete(child));
}

const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': 'anvil-linux-amd64',
  'linux-arm64': 'anvil-linux-arm64',
  'darwin-x64': 'anvil-darwin-amd64',
  'darwin-arm64': 'anvil-darwin-arm64',
  'win32-x64': 'anvil-win32-amd64',
};

/** The command that runs anvil: the platform binary if installed, else the package's
 *  bin.mjs wrapper under this Node (which forwards SIGTERM to the real binary). */
export function resolveAnvilCommand(): { command: string; prefixArgs: string[] } {
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  const exe = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  if (pkg) {
    try {
      return { command: require.resolve(`@foundry-rs/${pkg}/bin/${exe}`), prefixArgs: [] };
    } catch {
      // Not installed (optional dependency skipped): try the wrapper below.
    }
  }
  try {
    return { command: process.execPath, prefixArgs: [require.resolve('@foundry-rs/anvil/bin.mjs')] };
  } catch (cause) {
    throw new ChainError('ANVIL_NOT_FOUND', `no anvil binary for ${process.platform}-${process.arch} in node_modules`, {
      details: 'install @foundry-rs/anvil (and allow its install script), or pass `binary`',
      cause,
    });
  }
}

/** Keeps the last lines of a stream, for error messages, and hands each line to `onLine`. */
function tailLines(stream: NodeJS.ReadableStream, onLine?: (line: string) => void): string[] {
  const kept: string[] = [];
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      onLine?.(line);
      if (line.trim() === '') continue;
      kept.push(line);
      if (kept.length > LOG_LINES_KEPT) kept.shift();
    }
  });
  return kept;
}

async function answersChainId(rpcUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1_000),
    });
    const body = (await res.json()) as { result?: string };
    return body.result ? Number(body.result) : undefined;
  } catch {
    return undefined; // not listening yet
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if (!(await waitForExit(child, KILL_GRACE_MS))) {
    child.kill('SIGKILL');
    await waitForExit(child, KILL_GRACE_MS);
  }
}

/** Start anvil on 127.0.0.1 and resolve once it answers eth_chainId. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<Anvil> {
  const chainId = opts.chainId ?? 31337;
  const requestedPort = opts.port ?? 0;
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  const { command, prefixArgs } = opts.binary ? { command: opts.binary, prefixArgs: [] } : resolveAnvilCommand();

  const args = [...prefixArgs, '--host', '127.0.0.1', '--port', String(requestedPort), '--chain-id', String(chainId)];
  let statePath: string | undefined;
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    statePath = path.join(opts.dataDir, 'anvil-state.json');
    args.push('--state', statePath, '--state-interval', String(opts.stateIntervalS ?? 5));
  }

  // Not detached: anvil stays in our process group, so a terminal's Ctrl-C reaches it too.
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TARGET_TOOL: 'anvil' },
  });
  track(child);

  // Polling starts only after anvil's "Listening on 127.0.0.1:PORT" line: with port 0 it is the
  // only way to learn the port, and with a fixed port it keeps us from mistaking another
  // process already on that port for ours.
  let port = requestedPort;
  let listening = false;
  const stdoutTail = tailLines(child.stdout!, (line) => {
    const m = /Listening on [^\s]*:(\d+)/.exec(line);
    if (m) {
      port = Number(m[1]);
      listening = true;
    }
  });
  const stderrTail = tailLines(child.stderr!);

  const failure = (why: string, cause?: unknown) => {
    const logs = stderrTail.length ? stderrTail : stdoutTail;
    return new ChainError('ANVIL_START_FAILED', `anvil on 127.0.0.1:${port || '(auto)'} ${why}`, {
      details: `command: ${command} ${args.join(' ')}\nlast output:\n${logs.join('\n') || '(none)'}`,
      cause,
    });
  };

  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (spawnError) throw failure('could not be spawned', spawnError);
      if (child.exitCode !== null || child.signalCode !== null) {
        throw failure(`exited before it answered (code ${child.exitCode}, signal ${child.signalCode})`);
      }
      if (listening) {
        const answered = await answersChainId(`http://127.0.0.1:${port}`);
        if (answered === chainId) break;
        if (answered !== undefined) throw failure(`answered chain id ${answered}, expected ${chainId}`);
      }
      if (Date.now() > deadline) {
        throw failure(listening ? `did not answer eth_chainId within ${timeoutMs} ms` : `did not log "Listening on" within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (err) {
    await kill(child);
    throw err;
  }

  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    chainId,
    port,
    pid: child.pid!,
    statePath,
    accounts: DEV_ACCOUNT_KEYS.map((privateKey) => ({ address: privateKeyToAccount(privateKey).address, privateKey })),
    stop: () => kill(child),
  };
}
