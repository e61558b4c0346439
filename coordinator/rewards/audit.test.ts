// The reward audit on epoch files the coordinator's own builder published from a real ledger:
// two epochs (the second cumulative over the first, one device paying a wallet through a
// signed delegation) recompute to the roots that were posted; a file with one amount +1 (and
// the root rebuilt to match, as a coordinator that inflated an account would post it), a
// report whose signed samples or partner were changed, and credit paid to a wallet without
// its delegation are each caught and named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { DEFAULT_RUN, runSpecOf, modelOf } from '../../shared/config.ts';
import { contributionTypedData, delegationTypedData, eip712Domain } from '../../shared/eip712.ts';
import { hashParams, initParams } from '../../shared/model.ts';
import { buildContribution } from '../../shared/round.ts';
import { keccak256 } from '../../shared/keccak.ts';
import { contributionFromJson, parseEpochFile, type EpochFile } from '../../shared/wire/index.ts';
import { certificateDigest, certificateFromJson, contributionSigningBytes, newEd25519Signer, SessionKeyHolder } from '../../shared/session-key.ts';
import { epochInputs, Ledger, migrate } from '../db/index.ts';
import { MIGRATIONS } from '../db/migrations.ts';
import { insertInlineRun, LEDGER_BACKENDS } from '../db/test-databases.ts';
import { buildRewardTree } from '../chain/index.ts';
import { creditWeiOf } from '../round/index.ts';
import { epochFileOf } from './epoch-file.ts';
import { auditEpochFile } from './audit.ts';

const run = runSpecOf(1, DEFAULT_RUN, { name: 'mnist', trainCount: 100, testCount: 10, features: 784, classes: 10 });
const chain = { chainId: 31337, distributor: `0x${'d1'.repeat(20)}` as Address };
const domain = eip712Domain(chain.chainId, chain.distributor);
const key = (i: number) => privateKeyToAccount(`0x${(i + 0x1000).toString(16).padStart(64, '0')}`);
const [deviceA, deviceB, wallet] = [key(1), key(2), key(3)];
const h = (s: string) => keccak256(new TextEncoder().encode(s));

for (const backend of LEDGER_BACKENDS)
  test(
    `${backend.name}: published epoch files recompute to the posted roots; tampered files are caught`,
    { skip: backend.skip, timeout: 60_000 },
    async (t) => {
      const sql = await backend.open();
      t.after(() => sql.close());
      const ledger = new Ledger(sql);
      const params = initParams(modelOf(run), 1);
      await ledger.createRun(run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });

      let nonce = 1n;
      // B reports as a protocol-6 page: signed by its session key, which B's device key certified (shared/session-key.ts).
      const sessionB = new SessionKeyHolder((typed) => deviceB.signTypedData(typed));
      const grantB = await sessionB.grant(domain, run.id, deviceB.address.toLowerCase() as Address, 'audit', 1_800_000_000);
      const certB = certificateDigest(domain, certificateFromJson(grantB.certificate)).toLowerCase() as Hex;
      assert.deepEqual(await ledger.keepSessionCertificate(certB, grantB), { ok: true });
      const report = async (who: typeof deviceA, round: number, samples: number, partner = '') => {
        const c = buildContribution({
          run: run.id,
          round,
          cohort: 0,
          frameHash: h(`frame ${who.address} ${round}`),
          aggregateHash: h(`aggregate ${round}`),
          framesRoot: h(`frames ${round}`),
          residualHash: h(`residual ${who.address} ${round}`),
          samples,
          steps: 3,
          lossBefore: 2.302585,
          lossAfter: 1.75,
          computeMs: 1234,
          nowMs: 1_800_000_000_000,
          nonce: nonce++,
          partner,
        });
        const bySession = who === deviceB;
        const signature = bySession ? await sessionB.signReport(domain, c) : await who.signTypedData(contributionTypedData(domain, c));
        const device = who.address.toLowerCase() as Address;
        const id = await ledger.insertPending(run.id, device, c, signature, {
          certificate: bySession ? certB : null,
          residualHash: c.residualHash,
          beneficiary: (await ledger.activeWallet(device, 1_800_000_000)) ?? device,
        });
        await sql.query(`update contributions set state = 'accepted', verification = 'skipped', credit_wei = $2 where id = $1`, [
          id,
          creditWeiOf(samples, run).toString(),
        ]);
      };
      const postEpoch = async (epoch: number, round: number): Promise<Hex> => {
        const { credit, ids } = await ledger.epochCredit();
        const tree = buildRewardTree(credit);
        await ledger.openEpoch({
          epoch,
          runId: run.id,
          round,
          root: tree.root,
          modelHash: h(`model ${round}`),
          totalWei: 0n,
          accounts: credit.length,
          tree: tree.dump(),
          ids,
        });
        await ledger.epochPosted(epoch, h(`tx ${epoch}`));
        return tree.root;
      };
      const published = async (epoch: number) =>
        parseEpochFile(JSON.parse(JSON.stringify(epochFileOf((await epochInputs(sql, epoch))!, chain))), `epoch ${epoch}`);

      await report(deviceA, 0, 64, 'blog');
      await report(deviceB, 0, 32);
      const root1 = await postEpoch(1, 0);
      // B binds a wallet: its later credit is paid to the wallet, through the signed delegation.
      const d = { wallet: wallet.address.toLowerCase() as Address, device: deviceB.address.toLowerCase() as Address, nonce: 1n, expiry: 2_000_000_000n };
      await ledger.insertDelegation(d, await wallet.signTypedData(delegationTypedData(domain, d)));
      await report(deviceA, 1, 64);
      await report(deviceB, 1, 16);
      const root2 = await postEpoch(2, 1);

      const file1 = await published(1);
      const file2 = await published(2);
      assert.equal(file1.credited.length, 2);
      assert.equal(file1.credited[0].contribution?.partner, 'blog', 'the partner travels inside the signed report');
      assert.equal(file2.previous?.epoch, 1);
      assert.ok(file2.credited.some((c) => c.beneficiary === d.wallet && c.delegation !== null));

      const a1 = await auditEpochFile(file1, { chainRoot: root1 });
      assert.deepEqual(a1.mismatches, []);
      assert.equal(a1.root, root1.toLowerCase());
      const a2 = await auditEpochFile(file2, { previous: a1.balances, chainRoot: root2 });
      assert.deepEqual(a2.mismatches, []);
      assert.equal(a2.reports, 2);
      assert.equal(a2.balances.get(deviceA.address.toLowerCase() as Address), creditWeiOf(128, run), 'cumulative over both epochs');
      assert.equal(a2.balances.get(d.wallet), creditWeiOf(16, run));

      const edit = (f: EpochFile, change: (f: EpochFile) => void) => {
        const copy = structuredClone(f);
        change(copy);
        return copy;
      };
      const kinds = async (f: EpochFile, chainRoot: Hex, previous = a1.balances) =>
        (await auditEpochFile(f, { previous: f.epoch === 2 ? previous : null, chainRoot })).mismatches
          .map((m) => `${m.kind}:${m.id ?? m.account ?? ''}`)
          .sort();

      // One amount +1, and the root rebuilt from the inflated leaves and "posted": the reports do not add up to it.
      const inflated = edit(file2, (f) => {
        f.balances[0].cumulativeWei = (BigInt(f.balances[0].cumulativeWei) + 1n).toString();
        f.root = buildRewardTree(f.balances.map((b) => ({ account: b.account, cumulative: BigInt(b.cumulativeWei) }))).root;
      });
      const r = await auditEpochFile(inflated, { previous: a1.balances, chainRoot: inflated.root });
      assert.deepEqual(r.mismatches.map((m) => m.kind).sort(), ['balance', 'chain', 'root']);
      assert.equal(r.mismatches.find((m) => m.kind === 'balance')?.account, inflated.balances[0].account);
      assert.notEqual(r.root, inflated.root.toLowerCase());

      // A report whose signed samples were raised (its credit and the leaves following): the signature no longer recovers its account.
      const id0 = file1.credited[0].id;
      const moreSamples = edit(file1, (f) => {
        f.credited[0].contribution!.samples += 10;
        f.credited[0].creditWei = creditWeiOf(f.credited[0].contribution!.samples, run).toString();
      });
      assert.deepEqual(await kinds(moreSamples, root1), [`balance:${file1.credited[0].account}`, 'chain:', 'root:', `signature:${id0}`]);
      // The partner is signed too: crediting the work to another partner breaks the signature.
      const otherPartner = edit(file1, (f) => void (f.credited[0].contribution!.partner = 'rival'));
      assert.ok((await kinds(otherPartner, root1)).includes(`signature:${id0}`));
      // A report signed by another key than the account it is credited to.
      const forged = edit(file1, (f) => void (f.credited[0].signature = file1.credited[1].signature));
      assert.ok((await kinds(forged, root1)).includes(`signature:${id0}`));
      // B's chain: the certificate is published beside each report it signed; a certificate signed by
      // another key, one naming another run, or a report signature that is not the certified key's, is caught.
      const idB = file1.credited[1].id;
      assert.equal(file1.credited[1].session?.certificate.sessionKey, grantB.certificate.sessionKey);
      assert.equal(file1.credited[0].session, null, "A's report is signed by its device key (protocol 5 rows stay checkable)");
      const otherSigner = edit(
        file1,
        (f) => void (f.credited[1].session!.signature = grantB.signature.replace(/..$/, (v) => (v === '1b' ? '1c' : '1b')) as Hex),
      );
      assert.ok((await kinds(otherSigner, root1)).includes(`signature:${idB}`));
      const otherRun = edit(file1, (f) => void (f.credited[1].session!.certificate.run = run.id + 1));
      assert.ok((await kinds(otherRun, root1)).includes(`signature:${idB}`));
      const stranger = await newEd25519Signer();
      const c1 = contributionFromJson(file1.credited[1].contribution!);
      const foreignKey = await stranger.sign(contributionSigningBytes(domain, certB, c1));
      const byStranger = edit(file1, (f) => void (f.credited[1].signature = foreignKey));
      assert.ok((await kinds(byStranger, root1)).includes(`signature:${idB}`));
      const uncertified = edit(file1, (f) => void (f.credited[1].session = null));
      assert.ok((await kinds(uncertified, root1)).includes(`signature:${idB}`), 'an Ed25519 signature without its certificate proves nothing');
      // Credit paid to a wallet without the wallet's delegation.
      const routed = file2.credited.find((c) => c.delegation)!;
      const undelegated = edit(file2, (f) => void (f.credited.find((c) => c.id === routed.id)!.delegation = null));
      assert.ok((await kinds(undelegated, root2)).includes(`delegation:${routed.id}`));
      // A previous epoch's leaves that differ from what this audit computed for it.
      const rewritten = edit(file2, (f) => void (f.previous!.balances[0].cumulativeWei = '1'));
      assert.ok((await kinds(rewritten, root2)).includes(`previous:${file2.previous!.balances[0].account}`));
      // The chain holding another root, or none.
      assert.deepEqual(await kinds(file1, h('another root')), ['chain:']);
    },
  );

for (const backend of LEDGER_BACKENDS)
  test(
    `${backend.name}: a row written before the ledger kept every signed field is published as unverifiable, not dropped`,
    { skip: backend.skip, timeout: 60_000 },
    async (t) => {
      const sql = await backend.open({ migrateTo: MIGRATIONS.findIndex((m) => m.includes('add column frames_root')) });
      t.after(() => sql.close());
      const ledger = new Ledger(sql);
      const params = initParams(modelOf(run), 1);
      await insertInlineRun(sql, run, { round: 0, modelHash: hashParams(params), params, momentum: new Float32Array(params.length) });
      const device = deviceA.address.toLowerCase() as Address;
      await sql.query(
        `insert into contributions (run_id, round, cohort, account, frame_hash, aggregate_hash, samples, steps, loss_before, loss_after, compute_ms, nonce, expiry, signature, state, beneficiary, residual_hash, verification, credit_wei)
       values (1, 0, 0, $1, $2, $2, 64, 3, 2.3, 1.7, 100, 1, 9999999999, $3, 'accepted', $1, $2, 'skipped', $4)`,
        [device, h('old'), `0x${'11'.repeat(65)}`, creditWeiOf(64, run).toString()],
      );
      await migrate(sql);
      const { credit, ids } = await ledger.epochCredit();
      const tree = buildRewardTree(credit);
      await ledger.openEpoch({ epoch: 1, runId: run.id, round: 0, root: tree.root, modelHash: h('m'), totalWei: 0n, accounts: 1, tree: tree.dump(), ids });
      await ledger.epochPosted(1, h('tx'));
      const file = parseEpochFile(JSON.parse(JSON.stringify(epochFileOf((await epochInputs(sql, 1))!, chain))), 'epoch 1');
      assert.equal(file.credited.length, 1);
      assert.equal(file.credited[0].contribution, null);
      const r = await auditEpochFile(file, { chainRoot: tree.root });
      assert.deepEqual(
        r.mismatches.map((m) => m.kind),
        ['signature', 'balance', 'root', 'chain'],
        'its credit cannot be recomputed: the audit says so instead of passing it',
      );
      assert.match(r.mismatches[0].detail, /written before the ledger kept every signed field/);
    },
  );
