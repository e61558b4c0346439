// A published epoch file outlives the process that built it: stored under the data directory
// once, then served byte for byte after a restart, even where the ledger has moved on (a verdict
// on the epoch's rounds recorded after the post would change a rebuilt file and its hash).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keccak256, toHex, type Address, type Hex } from 'viem';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { openDatabase, Ledger } from '../db/index.ts';
import { Rewards } from './epochs.ts';
import { EpochFiles } from './epoch-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'idlegrad-epoch-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('an epoch file is stored once and served unchanged after a restart, whatever the ledger says since', async () => {
  const run = runSpecOf(
    1,
    { ...DEFAULT_RUN, rewards: { ...DEFAULT_RUN.rewards, epochRounds: 1 } },
    { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 },
  );
  const sql = await openDatabase({});
  try {
    const ledger = new Ledger(sql);
    const params = initParams(modelOf(run), 1);
    await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
    const account = `0x${'ab'.repeat(20)}` as Address;
    const contribute = async (nonce: bigint, state: string, verification: string, reasonCode: string | null) => {
      const h = `0x${nonce.toString(16).padStart(64, '0')}` as Hex;
      const fields = { run: 1, round: 0, cohort: 0, frameHash: h, aggregateHash: h, framesRoot: h, residualHash: h, samples: 1, steps: 1 };
      const id = await ledger.insertPending(
        run.id,
        account,
        { ...fields, lossBeforeMicro: 1, lossAfterMicro: 1, computeMs: 1, nonce, expiry: 9_999_999_999n, partner: '' },
        '0x',
      );
      await sql.query(`update contributions set state = $2, verification = $3, reason_code = $4, reason = 'late', credit_wei = 1000 where id = $1`, [
        id,
        state,
        verification,
        reasonCode,
      ]);
    };
    await contribute(1n, 'accepted', 'skipped', null);
    const chain = { chainId: 31337, distributor: '0x0000000000000000000000000000000000000001' as Address };
    const rewards = new Rewards(
      ledger,
      {
        ...chain,
        rpcUrl: 'http://127.0.0.1:9',
        token: '0x0000000000000000000000000000000000000002',
        postEpoch: async (e, root) => ({ txHash: keccak256(toHex(`${e}:${root}`)) }),
        fundGas: () => Promise.reject(new Error('no faucet here')),
      },
      run,
      () => {},
    );
    assert.equal(await rewards.postEpoch(0, hashParams(params)), 1);

    const first = await new EpochFiles(sql, chain, dir).file(1);
    assert.equal(first.entry.fileHash, keccak256(first.bytes));
    // A failed check on the epoch's round, recorded after the post: a rebuilt file differs.
    await contribute(2n, 'rejected', 'failed', 'WORK_MISMATCH');
    const rebuilt = await new EpochFiles(sql, chain).file(1);
    assert.notEqual(rebuilt.hash, first.hash, 'the late verdict is in a file rebuilt from the ledger');
    assert.equal(JSON.parse(rebuilt.bytes.toString()).verdicts.length, 1);

    // A new process on the same data directory serves the stored bytes, and lists their hash.
    const restarted = new EpochFiles(sql, chain, dir);
    const again = await restarted.file(1);
    assert.ok(again.bytes.equals(first.bytes));
    assert.deepEqual((await restarted.listing()).epochs, [first.entry]);

    // A stored file that is not the epoch's is refused by name, not served.
    writeFileSync(join(dir, '1.json'), JSON.stringify({ ...JSON.parse(first.bytes.toString()), epoch: 2 }));
    await assert.rejects(new EpochFiles(sql, chain, dir).file(1), /stored epoch file .*1\.json is not epoch 1's/);
    writeFileSync(join(dir, '1.json'), JSON.stringify({ ...JSON.parse(first.bytes.toString()), root: `0x${'ee'.repeat(32)}` }));
    await assert.rejects(new EpochFiles(sql, chain, dir).file(1), /stored epoch file .*1\.json is not this ledger's epoch 1 \(root 0xee/);
    writeFileSync(join(dir, '1.json'), '{');
    await assert.rejects(new EpochFiles(sql, chain, dir).file(1), /stored epoch file .*1\.json is not JSON/);
    await assert.rejects(new EpochFiles(sql, chain, dir).file(2), /epoch 2 is not a posted reward epoch/);
  } finally {
    await sql.close();
  }
});
