// The private nats-server the cluster tests share: a missing binary skips a test only outside CI;
// the server picks its own port and is gone after kill() and after stop().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { natsServerSkip, startNatsServer } from './nats-server.ts';

test('a missing nats-server skips, saying how to install it, only outside CI', () => {
  const absent = () => null;
  assert.match(String(natsServerSkip({ PATH: '/nowhere' }, absent)), /nats-server is not installed \(Debian: apt-get install nats-server/);
  assert.equal(natsServerSkip({ PATH: '/nowhere', CI: 'true' }, absent), false, 'in CI the test runs and fails loudly instead');
  assert.equal(
    natsServerSkip({ PATH: '/usr/sbin' }, () => '/usr/sbin/nats-server'),
    false,
  );
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test(
  'startNatsServer: a port of its own, JetStream in its own store; kill() and stop() end the process',
  { skip: natsServerSkip(), timeout: 30_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'idlegrad-nats-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const lines: string[] = [];
    const [a, b] = await Promise.all([startNatsServer({ storeDir: join(dir, 'a'), log: (l) => lines.push(l) }), startNatsServer({ storeDir: join(dir, 'b') })]);
    assert.notEqual(a.port, b.port, 'two servers side by side, each on the port it picked');
    assert.equal(a.url, `nats://127.0.0.1:${a.port}`);
    assert.ok(
      lines.some((l) => l.includes(`Store Directory: "${join(dir, 'a')}/jetstream"`)),
      'JetStream stores where it was told',
    );
    await a.kill();
    await b.stop();
    assert.equal(alive(a.pid) || alive(b.pid), false);
  },
);
