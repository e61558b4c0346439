// Issue 14's surface attacks, played by a protocol-level attacker (no browser) against a real
// coordinator: nothing sent to a default `npm start` moves reward tokens except a valid claim
// to the claimant's own leaf, and a failed epoch post never stops the coordinator.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createPublicClient, createTestClient, encodeFunctionData, getAddress, http, parseEther, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { rewardDistributorAbi, rewardTokenAbi } from '../shared/chain/abi.ts';
import { claimReward } from '../shared/chain/claim.ts';
import { startAnvil, DEV_ACCOUNT_KEYS } from '../coordinator/chain/anvil.ts';
import { OWNER_KEY_FILE } from '../coordinator/chain/owner-key.ts';
import { startRpcProxy } from '../coordinator/chain/test-support.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { startPlatformProcess, type PlatformProcess } from './platform-process.ts';
import { VirtualVolunteer, trainSet } from './virtual-volunteer.ts';
import { playRound } from './round-player.ts';
import WebSocket from 'ws';
import { helloMessage, PROTOCOL_VERSION } from '../shared/wire/index.ts';
import { SECP256K1_HALF_N } from '../shared/low-s.ts';

/** A raw protocol client: the messages it received, and when it closed. */
async function rawSocket(
  base: string,
): Promise<{ ws: WebSocket; got: { type: string; code?: string; message?: string; challenge?: string }[]; closed: Promise<number> }> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}ws`);
  const got: { type: string; code?: string; message?: string; challenge?: string }[] = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString())));
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  return { ws, got, closed };
}
const until = async (cond: () => boolean, ms = 10_000) => {
  for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() - t0 > ms) throw new Error('timed out');
};

const settings = {
  minVolunteers: 2,
  cohortSize: 2,
  inner: { steps: 2, batchSize: 16 },
  timing: { trainMs: 3000, exchangeMs: 2000, reportMs: 4000 },
  rewards: { epochRounds: 1 },
  verification: { rate: 0, newIdentityRate: 0 },
};

const live: { p: PlatformProcess[]; vs: VirtualVolunteer[] } = { p: [], vs: [] };
after(async () => {
  for (const v of live.vs) v.close();
  for (const p of live.p) await p.stop();
});

async function waitFor(p: PlatformProcess, re: RegExp, timeoutMs = 60_000): Promise<string> {
  for (const t0 = Date.now(); Date.now() - t0 < timeoutMs; await new Promise((r) => setTimeout(r, 50))) {
    const m = p.output().match(re);
    if (m) return m[0];
  }
  throw new Error(`no line matching ${re} within ${timeoutMs} ms:\n${p.output()}`);
}

async function volunteers(p: PlatformProcess, keys: Hex[]): Promise<VirtualVolunteer[]> {
  const vs = keys.map((k) => new VirtualVolunteer(p.url, k));
  live.vs.push(...vs);
  await Promise.all(vs.map((v) => v.connect()));
  for (const v of vs) v.send({ type: 'start' });
  return vs;
}

describe('the reward budget on a default npm start', () => {
  test("no /rpc request moves tokens but a claim to its own leaf; the owner key is this data directory's and unreachable", { timeout: 180_000 }, async () => {
    const p = await startPlatformProcess(settings, { quiet: true });
    live.p.push(p);
    const rpc = `${p.url}rpc`;
    const call = async (body: unknown) => {
      const res = await fetch(rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { result?: unknown; error?: { code: string | number; message: string } } };
    };
    const { chain } = await new CoordinatorApi(p.url).run();
    const client = createPublicClient({ transport: http(rpc) });
    const distributor = chain.distributor as Address;
    const token = chain.token as Address;

    // The owner: a fresh key in the data directory (0600), not one of anvil's published accounts.
    const keyFile = join(p.dataDir, OWNER_KEY_FILE);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const ownerKey = readFileSync(keyFile, 'utf8').trim() as Hex;
    const owner = getAddress(await client.readContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'owner' }));
    assert.equal(owner, privateKeyToAccount(ownerKey).address);
    for (const k of DEV_ACCOUNT_KEYS) assert.notEqual(owner, privateKeyToAccount(k).address);
    for (const path of ['owner-key', '..%2fowner-key', '%2e%2e/owner-key', 'api/../owner-key', 'contracts.anvil.json', 'lead-token']) {
      const body = await (await fetch(`${p.url}${path}`)).text();
      assert.ok(!body.includes(ownerKey.slice(2)), `GET /${path} does not serve the owner key`);
    }

    const budget = await client.readContract({ address: token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [distributor] });
    assert.ok(budget > 0n);
    const h32 = `0x${'ee'.repeat(32)}` as Hex;
    const attacker = privateKeyToAccount(generatePrivateKey()).address;
    // Signed by anvil's account 0 (the old owner, funded) and by the owner's own key (as if leaked):
    // postEpoch with the attacker's root, ownership, a token transfer, a plain transfer.
    for (const key of [DEV_ACCOUNT_KEYS[0], ownerKey]) {
      const signer = privateKeyToAccount(key);
      const nonce = Number(
        (await call({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionCount', params: [signer.address, 'pending'] })).body.result as string,
      );
      const sign = (to: Address, data: Hex, value = 0n) =>
        signer.signTransaction({
          chainId: chain.chainId,
          type: 'eip1559',
          to,
          data,
          value,
          nonce,
          gas: 300_000n,
          maxFeePerGas: 10_000_000_000n,
          maxPriorityFeePerGas: 1n,
        });
      const attacks: [string, Hex][] = [
        ['postEpoch', await sign(distributor, encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'postEpoch', args: [1000n, h32, h32] }))],
        ['transferOwnership', await sign(distributor, encodeFunctionData({ abi: rewardDistributorAbi, functionName: 'transferOwnership', args: [attacker] }))],
        ['token transfer', await sign(token, encodeFunctionData({ abi: rewardTokenAbi, functionName: 'transfer', args: [attacker, 1n] }))],
        ['plain transfer', await sign(attacker, '0x', parseEther('1'))],
      ];
      for (const [what, raw] of attacks) {
        const r = await call({ jsonrpc: '2.0', id: 1, method: 'eth_sendRawTransaction', params: [raw] });
        assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error?.code, 'RPC_REFUSED', what);
      }
    }
    for (const [method, params] of [
      ['eth_sendTransaction', [{ from: owner, to: distributor, data: '0x' }]],
      ['anvil_setBalance', [attacker, '0xffffffffffffffffff']],
      ['anvil_impersonateAccount', [owner]],
      ['eth_sign', [owner, '0x00']],
    ] as const) {
      const r = await call({ jsonrpc: '2.0', id: 1, method, params });
      assert.equal(r.status, 403, method);
      assert.equal(r.body.error?.code, 'RPC_REFUSED', method);
    }

    // A round and its epoch, then a volunteer claims its own leaf through /rpc: the one write that passes.
    const keys = [generatePrivateKey(), generatePrivateKey()];
    const vs = await volunteers(p, keys);
    await playRound(vs, await trainSet(p.url));
    await waitFor(p, /epoch 1 posted/);
    assert.equal(
      await client.readContract({ address: distributor, abi: rewardDistributorAbi, functionName: 'epochCount' }),
      1n,
      "only the coordinator's epoch is on chain",
    );
    const api = new CoordinatorApi(p.url);
    const summary = await api.account(vs[0].address);
    assert.ok(summary.claimable, 'the volunteer has a claim');
    // The faucet: five calls, one grant (once per account and epoch); nothing for an account without a claim.
    const faucetCalls = await Promise.allSettled(Array.from({ length: 5 }, () => api.faucet(vs[0].address)));
    assert.equal(faucetCalls.filter((r) => r.status === 'fulfilled').length, 1, 'one grant');
    for (const r of faucetCalls) if (r.status === 'rejected') assert.match(String(r.reason), /once per account and epoch/);
    await assert.rejects(api.faucet(attacker), /nothing claimable/);
    const cumulative = BigInt(summary.claimable.cumulativeWei);
    await claimReward({
      rpcUrl: rpc,
      chainId: chain.chainId,
      distributor,
      privateKey: keys[0],
      account: vs[0].address,
      cumulative,
      proof: summary.claimable.proof as Hex[],
      pollingInterval: 100,
    });
    assert.equal(await client.readContract({ address: token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [vs[0].address] }), cumulative);
    assert.equal(
      await client.readContract({ address: token, abi: rewardTokenAbi, functionName: 'balanceOf', args: [distributor] }),
      budget - cumulative,
      'the budget moved by the claim alone',
    );
    assert.equal((await fetch(`${p.url}api/health`)).status, 200);
  });
});

describe('the public surface', () => {
  test('headers, 413, a hello timeout, per-address and per-socket limits, capped errors, low-s only', { timeout: 120_000 }, async () => {
    const limits = { helloTimeoutMs: 1500, loopbackSessionsPerIp: 6, loopbackMessagesPerSecond: 20 };
    const p = await startPlatformProcess(settings, { quiet: true, env: { IDLEGRAD_LIMITS: JSON.stringify(limits) } });
    live.p.push(p);
    for (const path of ['', 'dashboard.html', 'embed.html']) {
      const h = (await fetch(`${p.url}${path}`, { method: 'HEAD' })).headers;
      assert.match(h.get('content-security-policy') ?? '', /script-src 'self' 'wasm-unsafe-eval'/, path);
      assert.equal(h.get('x-content-type-options'), 'nosniff');
      assert.ok(h.get('referrer-policy'));
      if (path === 'embed.html') assert.equal(h.get('x-frame-options'), null);
      else {
        assert.equal(h.get('x-frame-options'), 'DENY', path);
        assert.match(h.get('content-security-policy')!, /frame-ancestors 'none'/);
      }
    }
    const big = await fetch(`${p.url}api/faucet`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: 'x'.repeat(100_000) }),
    });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'TOO_LARGE');

    // A socket that never says hello is closed with a named reason.
    const silent = await rawSocket(p.url);
    const t0 = Date.now();
    assert.equal(await silent.closed, 1008);
    assert.ok(Date.now() - t0 < limits.helloTimeoutMs + 3000);
    assert.ok(silent.got.some((m) => m.type === 'error' && m.code === 'PEER_TIMEOUT' && /no hello within 1500 ms/.test(m.message!)));

    // A deeply nested message is BAD_MESSAGE with a short message; a high-s hello is BAD_SIGNATURE.
    const s = await rawSocket(p.url);
    await until(() => s.got.some((m) => m.type === 'challenge'));
    s.ws.send(`{"type":"hello","protocol":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    await until(() => s.got.some((m) => m.type === 'error'));
    const deep = s.got.find((m) => m.type === 'error')!;
    assert.equal(deep.code, 'BAD_MESSAGE', deep.message);
    assert.ok(deep.message!.length < 200, deep.message);
    const key = privateKeyToAccount(generatePrivateKey());
    const peerId = 'attacker-peer';
    const challenge = s.got.find((m) => m.type === 'challenge')!.challenge!;
    const low = await key.signMessage({ message: helloMessage(challenge, peerId) });
    const n = SECP256K1_HALF_N * 2n + 1n;
    const highS = `${low.slice(0, 66)}${(n - BigInt(`0x${low.slice(66, 130)}`)).toString(16).padStart(64, '0')}${low.endsWith('1b') ? '1c' : '1b'}`;
    s.ws.send(
      JSON.stringify({
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        address: key.address.toLowerCase(),
        peerId,
        signature: highS,
        adapter: null,
        gflops: null,
        // A well-formed session grant (shared/session-key.ts), so the hello is refused for its signature alone.
        session: {
          certificate: { run: 1, device: key.address.toLowerCase(), sessionKey: `0x${'11'.repeat(32)}`, expiry: '1' },
          signature: low,
          proof: `0x${'22'.repeat(64)}`,
        },
      }),
    );
    await until(() => s.got.filter((m) => m.type === 'error').length >= 2);
    assert.equal(s.got.filter((m) => m.type === 'error')[1].code, 'BAD_SIGNATURE');
    assert.match(s.got.filter((m) => m.type === 'error')[1].message!, /high s/);

    // More messages than the rate: the surplus is answered LIMIT_EXCEEDED, the socket and server live on.
    for (let i = 0; i < 300; i++) s.ws.send(JSON.stringify({ type: 'start' }));
    await until(() => s.got.length >= 300);
    const limited = s.got.filter((m) => m.code === 'LIMIT_EXCEEDED').length;
    assert.ok(limited >= 100, `${limited} of 300 messages over the rate were refused by name`);
    assert.equal(s.ws.readyState, WebSocket.OPEN);

    // More sockets from one address than allowed: refused by name.
    const extra = await Promise.all(Array.from({ length: limits.loopbackSessionsPerIp }, () => rawSocket(p.url)));
    await until(() => extra.some((x) => x.got.some((m) => m.code === 'LIMIT_EXCEEDED')));
    const refused = extra.filter((x) => x.got.some((m) => m.code === 'LIMIT_EXCEEDED' && /too many connections/.test(m.message!)));
    assert.equal(refused.length, 1, 'one socket over the limit of 6 (5 new + the one above)');
    for (const x of extra) x.ws.close();
    s.ws.close();
    assert.equal((await fetch(`${p.url}api/health`)).status, 200);
  });
});

describe('a failed epoch post', () => {
  test('RPC down, then the owner without gas: the coordinator keeps serving and posts once the fault clears', { timeout: 240_000 }, async () => {
    const anvil = await startAnvil();
    const proxy = await startRpcProxy(anvil.rpcUrl);
    after(async () => {
      proxy.close();
      await anvil.stop();
    });
    const ownerKey = generatePrivateKey();
    const owner = privateKeyToAccount(ownerKey).address;
    const cheats = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
    await cheats.setBalance({ address: owner, value: parseEther('10') });
    const p = await startPlatformProcess(settings, { quiet: true, env: { RPC_URL: proxy.url, DEPLOYER_KEY: ownerKey } });
    live.p.push(p);
    const api = new CoordinatorApi(p.url);
    const chain = createPublicClient({ transport: http(anvil.rpcUrl) });
    const { chain: info } = await api.run();
    const epochCount = () => chain.readContract({ address: info.distributor as Address, abi: rewardDistributorAbi, functionName: 'epochCount' });
    await assert.rejects(api.faucet(owner), /faucet is off/, 'with RPC_URL the faucet is off by default');
    const vs = await volunteers(p, [generatePrivateKey(), generatePrivateKey()]);
    const data = await trainSet(p.url);

    // The chain's RPC is down: round 0's epoch fails; rounds go on, the page and the API answer.
    proxy.down = true;
    await playRound(vs, data);
    await waitFor(p, /posting the epoch after round 0 failed \(attempt 1\)/);
    assert.equal((await fetch(`${p.url}api/health`)).status, 200);
    assert.equal((await fetch(p.url)).status, 200);
    assert.equal((await api.dashboard()).epochPosting?.failing, true, 'the dashboard shows the failing post');
    await playRound(vs, data);
    proxy.down = false;
    // Once the RPC is back the poster posts what the outage held back: round 0's epoch, and round
    // 1's too if round 1 committed during the outage (credit is cumulative, so it may post just
    // the newest boundary). Whatever it posted, each ledger epoch is on chain exactly once.
    await waitFor(p, /epoch 1 posted/);
    // Settled: the newest epoch covers `round` (an epoch opens after its round's checks settle, so
    // a post that just recovered may be followed by the next round's epoch) and the chain holds them all.
    const settled = async (round: number): Promise<number[]> => {
      for (const t0 = Date.now(); Date.now() - t0 < 60_000; await new Promise((r) => setTimeout(r, 200))) {
        const d = await api.dashboard();
        const onChain = await epochCount();
        const covered = d.epochs.some((e) => e.round >= round);
        if (covered && !d.epochPosting?.failing && BigInt(d.epochs.length) === onChain) return d.epochs.map((e) => e.epoch).sort((a, b) => a - b);
      }
      throw new Error(`epochs on chain never matched the ledger's:\n${p.output()}`);
    };
    const afterOutage = await settled(1);
    assert.ok(afterOutage.length >= 1, 'round 0 epoch posted after the outage');
    assert.deepEqual(
      afterOutage,
      afterOutage.map((_, i) => i + 1),
      'ledger epochs 1..n, each once on chain',
    );

    // The owner has no gas: round 2's epoch is opened, its transaction fails, and it is posted once funded.
    await cheats.setBalance({ address: owner, value: 0n });
    await playRound(vs, data);
    await waitFor(p, /posting the epoch after round 2 failed/);
    assert.equal((await fetch(`${p.url}api/health`)).status, 200);
    await cheats.setBalance({ address: owner, value: parseEther('10') });
    const last = afterOutage.length + 1;
    await waitFor(p, new RegExp(`epoch ${last} posted`));
    const all = await settled(2);
    assert.deepEqual(
      all,
      all.map((_, i) => i + 1),
      'each epoch on chain once',
    );
    assert.equal(all.at(-1), last, 'the epoch held back by the owner without gas was posted once funded');
    const dash = await api.dashboard();
    assert.equal(dash.rounds.length, 3, 'every round committed while posts failed');
    assert.equal(p.child.exitCode, null, 'the coordinator is still running');
    assert.doesNotMatch(p.output(), /unhandled promise rejection|uncaught exception/);
  });
});
