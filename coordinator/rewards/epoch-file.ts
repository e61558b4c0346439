// Published epoch inputs (issue 14): GET /api/epochs lists every posted epoch with the keccak256
// of its file; GET /api/epochs/N.json is the file (shared/wire/epoch-file.ts): the signed
// reports credited in the epoch, the verdicts on its rounds, the credit rule's parameters, the
// previous epoch's leaves and this epoch's. `npm run audit` (coordinator/rewards/audit.ts)
// recomputes the posted root from these files and the chain alone.
//
// A file is built from the ledger through one function (db/epoch-inputs.ts epochInputs) and
// never changes once its epoch is posted (batched rows are frozen), so its bytes — and the hash
// the listing names — are computed once per process and kept.
import express from 'express';
import type { Address, Hex } from 'viem';
import { keccak256 } from '../../shared/keccak.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { EPOCH_FILE_FORMAT, type ContributionJson, type EpochBalance, type EpochFile, type EpochListing } from '../../shared/wire/index.ts';
import { epochInputs, postedEpochNumbers, type BatchedContribution, type EpochInputs, type Sql } from '../db/index.ts';
import { loadRewardTree, type RewardTreeDump } from '../chain/index.ts';

/** The Contribution a batched row's signature covers; null when the row predates a signed field's column. */
export function signedContribution(c: BatchedContribution): ContributionJson | null {
  if (c.framesRoot === null || c.residualHash === null || c.signedPartner === null) return null;
  return {
    run: c.runId,
    round: c.round,
    cohort: c.cohort,
    frameHash: c.frameHash,
    aggregateHash: c.aggregateHash,
    framesRoot: c.framesRoot,
    residualHash: c.residualHash,
    samples: c.samples,
    steps: c.steps,
    // The ledger keeps losses as micro / 1e6 in float8: rounding gives the signed integer back exactly.
    lossBeforeMicro: Math.round(c.lossBefore * 1e6),
    lossAfterMicro: Math.round(c.lossAfter * 1e6),
    computeMs: c.computeMs,
    nonce: c.nonce,
    expiry: c.expiry,
    partner: c.signedPartner,
  };
}

function leavesOf(tree: unknown): EpochBalance[] {
  return loadRewardTree(tree as RewardTreeDump).entries.map((e) => ({ account: e.account.toLowerCase() as Address, cumulativeWei: e.cumulative.toString() }));
}

/** The published file of one posted epoch (pure: the ledger's inputs and the EIP-712 domain). */
export function epochFileOf(inputs: EpochInputs, chain: { chainId: number; distributor: Address }): EpochFile {
  const { epoch: e, previous } = inputs;
  if (!e.txHash) throw new IdlegradError('NOT_FOUND', `epoch ${e.epoch} is not posted yet`);
  const delegation = new Map(inputs.delegations.map((d) => [`${d.device}:${d.wallet}`, d]));
  return {
    format: EPOCH_FILE_FORMAT,
    epoch: e.epoch,
    run: e.runId,
    round: e.round,
    modelHash: e.modelHash,
    root: e.root,
    txHash: e.txHash,
    chain: { chainId: chain.chainId, distributor: chain.distributor.toLowerCase() as Address },
    policy: inputs.runs.map((r) => ({ run: r.id, weiPerSample: String(r.rewards.weiPerSample) })),
    previous: previous ? { epoch: previous.epoch, balances: leavesOf(previous.tree) } : null,
    credited: inputs.contributions.map((c) => {
      const d = c.beneficiary !== c.account ? delegation.get(`${c.account}:${c.beneficiary}`) : undefined;
      return {
        id: c.id,
        account: c.account,
        beneficiary: c.beneficiary,
        contribution: signedContribution(c),
        signature: c.signature,
        verification: c.verification,
        vestsRound: c.vestsRound,
        creditWei: c.creditWei,
        delegation: d ? { message: { wallet: d.wallet, device: d.device, nonce: d.nonce, expiry: d.expiry }, signature: d.signature } : null,
      };
    }),
    verdicts: inputs.verdicts,
    balances: leavesOf(e.tree),
  };
}

/** The posted epochs' files, built on first request and kept (a posted epoch's inputs never change). */
export class EpochFiles {
  private readonly built = new Map<number, { bytes: Buffer; hash: Hex; entry: EpochListing['epochs'][number] }>();

  constructor(
    private readonly sql: Sql,
    private readonly chain: { chainId: number; distributor: Address },
  ) {}

  async file(epoch: number): Promise<{ bytes: Buffer; hash: Hex; entry: EpochListing['epochs'][number] }> {
    const kept = this.built.get(epoch);
    if (kept) return kept;
    const inputs = await epochInputs(this.sql, epoch);
    if (!inputs || !inputs.epoch.txHash) throw new IdlegradError('NOT_FOUND', `epoch ${epoch} is not a posted reward epoch`);
    const file = epochFileOf(inputs, this.chain);
    const bytes = Buffer.from(JSON.stringify(file));
    const hash = keccak256(bytes);
    const out = { bytes, hash, entry: { epoch, root: file.root, txHash: file.txHash, round: file.round, file: `/api/epochs/${epoch}.json`, fileHash: hash } };
    this.built.set(epoch, out);
    return out;
  }

  async listing(): Promise<EpochListing> {
    const epochs: EpochListing['epochs'] = [];
    for (const epoch of await postedEpochNumbers(this.sql)) epochs.push((await this.file(epoch)).entry);
    return { epochs };
  }

  /** GET /api/epochs and GET /api/epochs/:epoch.json (public, like every read). */
  routes(): express.Router {
    const router = express.Router();
    const fail = (res: express.Response, e: unknown) => {
      const known = e instanceof IdlegradError;
      res
        .status(known && e.code === 'NOT_FOUND' ? 404 : known ? 400 : 500)
        .json({ error: { code: known ? e.code : 'INTERNAL', message: (e as Error).message } });
    };
    router.get('/api/epochs', (_req, res) => {
      this.listing().then(
        (l) => void res.json(l),
        (e) => fail(res, e),
      );
    });
    router.get('/api/epochs/:name', (req, res) => {
      const m = /^(0|[1-9][0-9]{0,9})\.json$/.exec(req.params.name);
      if (!m || Number(m[1]) > 0x7fffffff)
        return fail(res, new IdlegradError('BAD_MESSAGE', `epoch file: expected N.json, got ${JSON.stringify(req.params.name)}`));
      this.file(Number(m[1])).then(
        ({ bytes }) => void res.type('application/json').setHeader('cache-control', 'public, max-age=31536000, immutable').send(bytes),
        (e) => fail(res, e),
      );
    });
    return router;
  }
}
