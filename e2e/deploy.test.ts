// Issue 19 item 1: the deployment in compose.yaml + Dockerfile + coordinator/deploy/Caddyfile.
// There is no Docker engine here, so (1) the compose file is checked for what a deployment
// depends on — its services, the coordinator's environment (names the coordinator reads, values
// its config accepts once .env is filled in), the volumes that hold the ledger and the data
// directory — and (2) the same processes run without Docker: the coordinator on PostgreSQL,
// Caddy from Debian in front of it with its internal CA, and HTTPS and a WebSocket through it,
// trusting only that CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { WebSocket } from 'ws';
import { configFromEnv } from '../coordinator/config.ts';
import { DEFAULT_SURFACE_LIMITS, trustedProxiesOf } from '../coordinator/http/index.ts';
import { createTestDatabase } from '../coordinator/db/test-databases.ts';
import { startPlatformProcess } from './platform-process.ts';

interface Service {
  build?: string;
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  command?: string[];
  network_mode?: string;
  networks?: Record<string, { ipv4_address?: string }>;
}

/** A deployment's .env as the README describes it. */
const DOT_ENV: Record<string, string> = {
  IDLEGRAD_DOMAIN: 'train.example.org',
  POSTGRES_PASSWORD: 'a-long-random-password',
  RPC_URL: 'https://rpc.example.org',
  DEPLOYER_KEY: `0x${'ab'.repeat(32)}`,
  IDLEGRAD_TURN_SECRET: 'a-shared-turn-secret-of-32-chars',
};

/** Compose's interpolation: ${X}, ${X:-default}, ${X:?error}. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    if (env[name]) return env[name];
    if (op === '?') throw new Error(`${name}: ${arg}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** Every environment variable the coordinator reads (coordinator/config.ts and ice.ts). */
const readVariables = () =>
  new Set(['coordinator/config.ts', 'coordinator/ice.ts'].flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/env\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1])));

test('compose.yaml: the services a deployment needs, an environment the coordinator accepts, volumes for the ledger and the data directory', () => {
  const compose = parse(readFileSync('compose.yaml', 'utf8')) as {
    services: Record<string, Service>;
    volumes: Record<string, unknown>;
    networks: Record<string, { ipam: { config: { subnet: string }[] } }>;
  };
  const { coordinator, postgres, caddy, coturn } = compose.services;
  assert.ok(coordinator && postgres && caddy && coturn, `services: ${Object.keys(compose.services).join(', ')}`);

  // The coordinator is built from this repository's Dockerfile: production dependencies only.
  assert.equal(coordinator.build, '.');
  const dockerfile = readFileSync('Dockerfile', 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  assert.ok(stages.length >= 2, 'the Dockerfile is multi-stage');
  assert.match(stages.at(-1)!, /npm ci --omit=dev/, 'the runtime stage installs production dependencies only');
  // It runs the compiled coordinator with node, as the package's `npm start` does: no tsx.
  assert.match(stages.at(-1)!, /CMD \["node", "--enable-source-maps", "dist\/server\/start\.js"\]/);
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string> };
  assert.equal(pkg.scripts.start, 'node --enable-source-maps dist/server/start.js', "the Dockerfile's CMD is npm start's command");
  assert.ok(!('tsx' in pkg.dependencies), 'tsx is a devDependency');
  assert.match(healthcheckOf(stages.at(-1)!), /\/readyz'/, 'the container is healthy when ready (ledger and chain answer), not merely serving HTTP');
  for (const [name, s] of Object.entries(compose.services))
    if (name !== 'coordinator') assert.match(s.image ?? '', /^[\w./-]+:\d[\w.-]*$/, `${name}: an image pinned to a version`);

  // Its environment: only names the coordinator reads, and with .env filled in, a config it accepts.
  const env = Object.fromEntries(Object.entries(coordinator.environment!).map(([k, v]) => [k, interpolate(String(v), DOT_ENV)]));
  const known = readVariables();
  for (const name of Object.keys(env)) assert.ok(known.has(name), `coordinator.environment.${name} is not read by coordinator/config.ts or ice.ts`);
  for (const name of ['IDLEGRAD_DOMAIN', 'POSTGRES_PASSWORD', 'RPC_URL', 'DEPLOYER_KEY', 'IDLEGRAD_TURN_SECRET']) {
    const { [name]: _, ...without } = DOT_ENV;
    assert.throws(
      () => Object.values(coordinator.environment!).forEach((v) => interpolate(String(v), without)),
      new RegExp(name),
      `without ${name} in .env compose refuses to start`,
    );
  }
  const cfg = configFromEnv(env);
  assert.equal(new URL(cfg.databaseUrl!).hostname, 'postgres', 'DATABASE_URL names the postgres service');
  assert.equal(new URL(cfg.databaseUrl!).password, DOT_ENV.POSTGRES_PASSWORD);
  assert.equal(interpolate(postgres.environment!.POSTGRES_PASSWORD, DOT_ENV), DOT_ENV.POSTGRES_PASSWORD);
  assert.equal(cfg.host, '0.0.0.0', 'the coordinator listens beyond its container');
  assert.equal(cfg.advertiseUrl, `https://${DOT_ENV.IDLEGRAD_DOMAIN}/`);
  // Behind the proxy the per-address limits count each volunteer's address: Caddy's X-Forwarded-For
  // is believed, from Caddy's fixed address only, and the limits are the defaults.
  assert.deepEqual(cfg.limits, DEFAULT_SURFACE_LIMITS, 'no limit raised to make up for the proxy');
  const caddyAddress = caddy.networks?.default?.ipv4_address;
  assert.ok(caddyAddress, 'Caddy has a fixed address on the compose network');
  assert.deepEqual(cfg.trustedProxies, [caddyAddress], 'the coordinator trusts X-Forwarded-For from Caddy alone');
  const subnet = compose.networks.default.ipam.config[0].subnet;
  assert.ok(trustedProxiesOf(subnet).trusts(caddyAddress), `Caddy's ${caddyAddress} lies in the network's ${subnet}`);
  assert.ok(cfg.ice.turn && cfg.ice.turn.urls.every((u) => u.startsWith(`turn:${DOT_ENV.IDLEGRAD_DOMAIN}:3478`)), JSON.stringify(cfg.ice.turn?.urls));
  // coturn checks the credentials the coordinator mints: the same secret on both sides.
  const coturnArgs = coturn.command!.map((a) => interpolate(a, DOT_ENV));
  assert.ok(coturnArgs.includes('--use-auth-secret'));
  assert.ok(coturnArgs.includes(`--static-auth-secret=${cfg.ice.turn.secret}`), 'coturn and the coordinator share IDLEGRAD_TURN_SECRET');

  // State that must outlive a container: named volumes for the data directory and the ledger.
  const mountAt = (s: Service, target: string) => s.volumes?.map((v) => v.split(':')).find(([, t]) => t === target)?.[0];
  const dataVolume = mountAt(coordinator, cfg.dataDir);
  assert.ok(dataVolume && dataVolume in compose.volumes, `the data directory ${cfg.dataDir} is a named volume`);
  const ledgerVolume = mountAt(postgres, '/var/lib/postgresql/data');
  assert.ok(ledgerVolume && ledgerVolume in compose.volumes, 'the ledger is a named volume');
  assert.ok(mountAt(caddy, '/data') && mountAt(caddy, '/data')! in compose.volumes, "Caddy's certificates and CA are a named volume");

  // Caddy: this repository's Caddyfile, proxying to the coordinator's service and port.
  const caddyfile = mountAt(caddy, '/etc/caddy/Caddyfile');
  assert.ok(caddyfile && existsSync(caddyfile), `Caddyfile ${caddyfile}`);
  assert.equal(caddy.environment!.IDLEGRAD_UPSTREAM, `coordinator:${cfg.port}`);
});

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** A GET through the proxy, trusting only `ca`. */
const getTls = (url: string, ca: Buffer) =>
  new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    })
      .on('error', reject)
      .end();
  });

/** The shell command of a Dockerfile stage's HEALTHCHECK (its CMD, continuation lines joined). */
function healthcheckOf(stage: string): string {
  const m = stage.replace(/\\\n\s*/g, ' ').match(/^HEALTHCHECK\b.*?\bCMD (.+)$/m);
  assert.ok(m, 'the runtime stage has a HEALTHCHECK');
  return m[1];
}

/** Runs the Dockerfile's HEALTHCHECK command against a coordinator on `port`: its exit code. */
function runHealthcheck(port: number): number | null {
  const stages = readFileSync('Dockerfile', 'utf8').split(/^FROM /m);
  return spawnSync('sh', ['-c', healthcheckOf(stages.at(-1)!)], { env: { ...process.env, PORT: String(port) }, timeout: 10_000 }).status;
}

/** A PostgreSQL database: a fresh one on IDLEGRAD_TEST_DATABASE_URL's server, else a private server of its own (.ci/postgres.sh). */
async function postgres(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.IDLEGRAD_TEST_DATABASE_URL) {
    const db = await createTestDatabase();
    return { url: db.url, stop: db.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), 'idlegrad-deploy-pg-'));
  const url = execFileSync('.ci/postgres.sh', ['start', dir], { encoding: 'utf8' }).trim();
  return {
    url,
    async stop() {
      execFileSync('.ci/postgres.sh', ['stop', dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The first message a WebSocket receives (the coordinator's challenge, or the refusal of a limit). */
const firstMessage = (url: string, opts: ConstructorParameters<typeof WebSocket>[2]) =>
  new Promise<{ ws: WebSocket; first: { type: string; code?: string } }>((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once('message', (d) => resolve({ ws, first: JSON.parse(String(d)) as { type: string; code?: string } }));
    ws.once('error', reject);
  });

test(
  'without Docker: the coordinator on PostgreSQL behind Caddy (tls internal) answers HTTPS and a WebSocket, with per-address limits per volunteer',
  { timeout: 4 * 60_000 },
  async () => {
    assert.equal(spawnSync('caddy', ['version']).status, 0, 'caddy is not installed: apt-get install caddy (.ci/run installs it)');
    const db = await postgres();
    const caddyHome = mkdtempSync(join(tmpdir(), 'idlegrad-deploy-caddy-'));
    let caddy: ReturnType<typeof spawn> | null = null;
    // One socket per address, loopback included (the test's clients are 127.0.0.x); Caddy connects from 127.0.0.1.
    const env = {
      DATABASE_URL: db.url,
      IDLEGRAD_TRUSTED_PROXIES: '127.0.0.1',
      IDLEGRAD_LIMITS: JSON.stringify({ sessionsPerIp: 1, loopbackSessionsPerIp: 1 }),
    };
    const platform = await startPlatformProcess({}, { quiet: true, env }).catch(async (e: unknown) => {
      await db.stop();
      throw e;
    });
    try {
      const upstream = new URL(platform.url);
      const [httpPort, httpsPort] = [await freePort(), await freePort()];
      let log = '';
      caddy = spawn('caddy', ['run', '--config', 'coordinator/deploy/Caddyfile', '--adapter', 'caddyfile'], {
        env: {
          ...process.env,
          HOME: caddyHome,
          XDG_DATA_HOME: join(caddyHome, 'data'),
          XDG_CONFIG_HOME: join(caddyHome, 'config'),
          IDLEGRAD_DOMAIN: 'localhost',
          IDLEGRAD_TLS: 'internal',
          IDLEGRAD_UPSTREAM: upstream.host,
          IDLEGRAD_HTTP_PORT: String(httpPort),
          IDLEGRAD_HTTPS_PORT: String(httpsPort),
          IDLEGRAD_CADDY_ADMIN: 'off',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      caddy.stdout!.on('data', (d) => (log += d));
      caddy.stderr!.on('data', (d) => (log += d));
      const rootCert = join(caddyHome, 'data/caddy/pki/authorities/local/root.crt');
      const origin = `https://localhost:${httpsPort}`;
      // Caddy writes its root, then issues the site's certificate: poll until a request succeeds.
      let page: Awaited<ReturnType<typeof getTls>> | null = null;
      let lastError: unknown = null;
      for (const deadline = Date.now() + 60_000; !page && Date.now() < deadline;) {
        if (caddy.exitCode !== null) assert.fail(`caddy exited with ${caddy.exitCode}:\n${log}`);
        if (existsSync(rootCert)) page = await getTls(`${origin}/`, readFileSync(rootCert)).catch((e: unknown) => ((lastError = e), null));
        if (!page) await new Promise((r) => setTimeout(r, 250));
      }
      assert.ok(page, `no HTTPS answer through Caddy within 60 s (${String(lastError)}):\n${log}`);
      const ca = readFileSync(rootCert);
      assert.equal(page.status, 200);
      assert.match(page.body, /<link rel="manifest"/, 'the volunteer page, served by the coordinator');
      assert.match(String(page.headers['content-security-policy']), /frame-ancestors 'none'/, "the coordinator's own security headers pass through");

      // The image's HEALTHCHECK, run here against the same coordinator: healthy while it is ready,
      // unhealthy where nothing answers.
      assert.equal(runHealthcheck(Number(upstream.port)), 0, 'the HEALTHCHECK fails against a ready coordinator');
      assert.equal(runHealthcheck(await freePort()), 1, 'the HEALTHCHECK passes where no coordinator listens');

      const run = await getTls(`${origin}/api/run`, ca);
      assert.equal(run.status, 200, run.body);
      assert.equal((JSON.parse(run.body) as { run: { id: number } }).run.id, 1);
      await assert.rejects(() => getTls(`${origin}/api/run`, Buffer.from('')), 'without the CA the certificate is not trusted');

      // The WebSocket upgrade goes through: the coordinator's first message is its challenge. Each
      // volunteer (a local address of its own) has its own one-socket limit behind the one proxy,
      // and a header the volunteer writes itself does not get it a second socket.
      const wss = `wss://localhost:${httpsPort}/ws`;
      const sockets: WebSocket[] = [];
      try {
        const a = await firstMessage(wss, { ca, localAddress: '127.0.0.2' });
        sockets.push(a.ws);
        assert.equal(a.first.type, 'challenge');
        const again = await firstMessage(wss, { ca, localAddress: '127.0.0.2', headers: { 'X-Forwarded-For': '127.0.0.77' } });
        sockets.push(again.ws);
        assert.deepEqual([again.first.type, again.first.code], ['error', 'LIMIT_EXCEEDED'], 'a second socket of 127.0.0.2, spoofed header or not');
        const b = await firstMessage(wss, { ca, localAddress: '127.0.0.3' });
        sockets.push(b.ws);
        assert.equal(b.first.type, 'challenge', 'another volunteer behind the same proxy has its own limit');
        // Straight to the coordinator, from a peer that is not the trusted proxy: its header is ignored.
        const direct = `ws://${upstream.host}/ws`;
        const d1 = await firstMessage(direct, { localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': '127.0.0.5' } });
        sockets.push(d1.ws);
        assert.equal(d1.first.type, 'challenge');
        const d2 = await firstMessage(direct, { localAddress: '127.0.0.4', headers: { 'X-Forwarded-For': '127.0.0.6' } });
        sockets.push(d2.ws);
        assert.deepEqual([d2.first.type, d2.first.code], ['error', 'LIMIT_EXCEEDED'], 'a forged X-Forwarded-For from an untrusted peer changes nothing');
      } finally {
        for (const ws of sockets) ws.close();
      }
    } finally {
      if (caddy && caddy.exitCode === null) {
        const exited = new Promise((r) => caddy!.once('exit', r));
        caddy.kill('SIGTERM');
        await exited;
      }
      await platform.stop();
      await db.stop();
      rmSync(caddyHome, { recursive: true, force: true });
    }
  },
);
