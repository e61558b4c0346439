// The faucet pays gas once per account and reward epoch, only to accounts with a claim, is off
// when configured off, and keeps no grant it did not send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../../shared/errors.ts';
import { LEDGER_BACKENDS } from '../db/test-databases.ts';
import { Faucet } from './faucet.ts';

const a = '0x00000000000000000000000000000000000000aa' as Address;
const b = '0x00000000000000000000000000000000000000bb' as Address;
const isCode = (code: string, re: RegExp) => (e: unknown) => e instanceof IdlegradError && e.code === code && re.test(e.shortMessage);

for (const backend of LEDGER_BACKENDS) {
  test(`${backend.name}: once per account and epoch, only with a claim, recorded in the ledger`, { skip: backend.skip }, async (t) => {
    const sql = await backend.open();
    t.after(() => sql.close());
    let epoch = 1;
    const claims = new Set<Address>([a]);
    const sent: [Address, bigint][] = [];
    let failNext = false;
    const faucet = new Faucet({
      sql,
      enabled: true,
      claimable: async (x) => (claims.has(x) ? { epoch, cumulativeWei: '5', proof: [] } : undefined),
      send: async (x, wei) => {
        if (failNext) throw new Error('insufficient funds for gas * price + value');
        await new Promise((r) => setTimeout(r, 20));
        sent.push([x, wei]);
        return `0x${String(sent.length).padStart(64, '0')}` as Hex;
      },
    });
    // Five calls at once: one grant.
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => faucet.grant(a)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(isCode('DUPLICATE', /once per account and epoch/)(r.reason), String(r.reason));
    assert.equal(sent.length, 1);
    await assert.rejects(faucet.grant(b), isCode('NOT_FOUND', /nothing claimable/));
    // A new epoch: one more grant.
    epoch = 2;
    await faucet.grant(a);
    await assert.rejects(faucet.grant(a), isCode('DUPLICATE', /epoch 2/));
    // A send that fails keeps no grant: the account may ask again.
    claims.add(b);
    failNext = true;
    await assert.rejects(faucet.grant(b), isCode('CHAIN_ERROR', /insufficient funds/));
    failNext = false;
    await faucet.grant(b);
    assert.equal(sent.length, 3);
    const { rows } = await sql.query<{ account: string; epoch: number; tx_hash: string | null }>(
      `select account, epoch, tx_hash from faucet_grants order by account, epoch`,
    );
    assert.deepEqual(
      rows.map((r) => [r.account, Number(r.epoch), r.tx_hash !== null]),
      [
        [a, 1, true],
        [a, 2, true],
        [b, 2, true],
      ],
    );
  });
}

test('off: refused by name, nothing sent', async (t) => {
  const sql = await LEDGER_BACKENDS[0].open();
  t.after(() => sql.close());
  const faucet = new Faucet({
    sql,
    enabled: false,
    claimable: async () => ({ epoch: 1, cumulativeWei: '5', proof: [] }),
    send: async () => assert.fail('sent'),
  });
  await assert.rejects(faucet.grant(a), isCode('FORBIDDEN', /faucet is off/));
});
