// A private nats-server with JetStream (Debian's `nats-server` package): its own port (the server
// picks a free one, `-p -1`, and we read it back from its log), its own store directory, bound to
// loopback, and SIGKILLed when this process exits. The tests of coordinator/cluster/ share it; a
// one-machine deployment may use it too. A real deployment runs nats-server as a service of its own.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  pid: number;
  storeDir: string;
  /** SIGTERM (a clean shutdown that flushes the store); resolves when the process has exited. */
  stop(): Promise<void>;
  /** SIGKILL, as a host crash would; resolves when the process has exited. */
  kill(): Promise<void>;
}

/** The nats-server binary on PATH (or in /usr/sbin, where Debian puts it, for a PATH without it), or null. */
export function natsServerBinary(path = process.env.PATH ?? ''): string | null {
  for (const dir of [...path.split(delimiter), '/usr/sbin']) {
    if (!dir) continue;
    const bin = join(dir, 'nats-server');
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * false, or why a test that needs nats-server skips here. Only outside CI: in CI (`CI` set, as
 * `.ci/run` runs) nats-server is installed, and a missing one must fail the test, not skip it.
 */
export function natsServerSkip(env: NodeJS.ProcessEnv = process.env, find: (path?: string) => string | null = natsServerBinary): string | false {
  if (find(env.PATH) || env.CI) return false;
  return 'nats-server is not installed (Debian: apt-get install nats-server; .ci/run installs it)';
}

/** Starts nats-server with JetStream storing in `storeDir` (created if missing); resolves once it accepts clients. */
export async function startNatsServer(opts: { storeDir: string; readyTimeoutMs?: number; log?: (line: string) => void }): Promise<NatsServer> {
  const bin = natsServerBinary();
  if (!bin) throw new Error("nats-server is not on PATH: install Debian's nats-server package (apt-get install nats-server)");
  mkdirSync(opts.storeDir, { recursive: true });
  const child = spawn(bin, ['-js', '-a', '127.0.0.1', '-p', '-1', '-sd', opts.storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  const exited = new Promise<void>((res) => child.once('exit', () => (process.off('exit', killOnExit), res())));
  let log = '';
  const port = await new Promise<number>((resolve, reject) => {
    let found: number | null = null;
    const timer = setTimeout(() => fail(`not ready after ${opts.readyTimeoutMs ?? 10_000} ms`), opts.readyTimeoutMs ?? 10_000);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`nats-server (${bin}) did not start: ${why}\n${log.slice(-2000)}`));
    }
    child.once('error', (e) => fail(e.message));
    const early = (code: number | null, signal: NodeJS.Signals | null) => fail(`exited with ${signal ?? code}`);
    child.once('exit', early);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      for (const line of chunk.split('\n')) if (line.trim()) opts.log?.(line);
      found ??= Number(/Listening for client connections on [^\s]*:(\d+)/.exec(log)?.[1] ?? NaN) || null;
      if (found !== null && log.includes('Server is ready')) {
        clearTimeout(timer);
        child.off('exit', early);
        resolve(found);
      }
    });
  });
  // Keep draining stderr so a chatty server never blocks on a full pipe.
  child.stderr!.removeAllListeners('data');
  child.stderr!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line.trim()) opts.log?.(line);
  });
  const signal = (sig: NodeJS.Signals) => async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { url: `nats://127.0.0.1:${port}`, port, pid: child.pid!, storeDir: opts.storeDir, stop: signal('SIGTERM'), kill: signal('SIGKILL') };
}
