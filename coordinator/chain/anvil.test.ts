import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPublicClient, createWalletClient, http, parseEther } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEV_DEPLOYER_KEY, startAnvil } from './anvil.ts';
import { ChainError } from '../../shared/chain/errors.ts';
import { eventually, processAlive } from './test-support.ts';

const SINK = '0x000000000000000000000000000000000000dEaD';

test('starts on a free port with the requested chain id, and stop() ends the process', async () => {
  const anvil = await startAnvil({ chainId: 4242 });
  try {
    assert.ok(anvil.port > 0);
    assert.equal(anvil.rpcUrl, `http://127.0.0.1:${anvil.port}`);
    const client = createPublicClient({ transport: http(anvil.rpcUrl) });
    assert.equal(await client.getChainId(), 4242);
    assert.equal(anvil.accounts.length, 10);
    assert.equal(anvil.accounts[0]!.privateKey, DEV_DEPLOYER_KEY);
    assert.equal(anvil.accounts[0]!.address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
    assert.equal(await client.getBalance({ address: anvil.accounts[9]!.address }), parseEther('10000'));
  } finally {
    await anvil.stop();
  }
  assert.equal(processAlive(anvil.pid), false);
  await anvil.stop(); // idempotent
});

test('a taken port fails with an error naming the port and quoting anvil', async () => {
  const first = await startAnvil();
  try {
    await assert.rejects(startAnvil({ port: first.port, startTimeoutMs: 5_000 }), (err: unknown) => {
      assert.ok(err instanceof ChainError);
      assert.equal(err.code, 'ANVIL_START_FAILED');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${first.port} exited`));
      assert.match(err.message, /last output:\n.*\S/);
      return true;
    });
  } finally {
    await first.stop();
  }
});

test('with dataDir the chain state survives a restart', async () => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'idlegrad-anvil-'));
  try {
    const first = await startAnvil({ dataDir });
    try {
      const wallet = createWalletClient({ transport: http(first.rpcUrl), account: privateKeyToAccount(DEV_DEPLOYER_KEY) });
      const hash = await wallet.sendTransaction({ to: SINK, value: 12345n, chain: null });
      await createPublicClient({ transport: http(first.rpcUrl) }).waitForTransactionReceipt({ hash });
    } finally {
      await first.stop();
    }
    const second = await startAnvil({ dataDir });
    try {
      const client = createPublicClient({ transport: http(second.rpcUrl) });
      assert.equal(await client.getBalance({ address: SINK }), 12345n);
      assert.ok((await client.getBlockNumber()) >= 1n);
    } finally {
      await second.stop();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('anvil is killed when the parent process exits without calling stop()', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'idlegrad-orphan-'));
  // .mts: /tmp has no package.json saying "type": "module", and the script needs top-level await.
  const script = path.join(dir, 'orphan.mts');
  const anvilModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'anvil.ts');
  await writeFile(
    script,
    `import { startAnvil } from ${JSON.stringify(anvilModule)};\n` + `const a = await startAnvil();\nconsole.log('PID=' + a.pid);\nprocess.exit(0);\n`,
  );
  let pid: number | undefined;
  try {
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 20_000 });
    const m = /PID=(\d+)/.exec(run.stdout);
    assert.ok(m, `child printed no pid; stderr: ${run.stderr}`);
    pid = Number(m[1]);
    assert.ok(await eventually(() => !processAlive(pid!), 5_000), `anvil ${pid} outlived its parent`);
  } finally {
    if (pid !== undefined && processAlive(pid)) process.kill(pid, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});
