// Published epoch inputs (issue 14): GET /api/epochs lists every posted epoch with the keccak256
// of its file; GET /api/epochs/N.json is the file (shared/wire/epoch-file.ts): the signed
// reports credited in the epoch, the verdicts on its rounds, the credit rule's parameters, the
// previous epoch's leaves and this epoch's. `npm run audit` (coordinator/rewards/audit.ts)
// recomputes the posted root from these files and the chain alone.
//
// A file is built from the ledger through one function (db/epoch-inputs.ts epochInputs) when its
// epoch is posted (or first asked for) and then stored under the data directory, written once
// and never rebuilt: the ledger does not freeze everything a file holds (a check or a clawback
// that lands after the post adds a verdict on the epoch's rounds), and the hash the listing
// names must stay the hash of the same bytes across restarts.
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import express from 'express';
import type { Address, Hex } from 'viem';
import { keccak256 } from '../../shared/keccak.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { EPOCH_FILE_FORMAT, type ContributionJson, type EpochBalance, type EpochFile, type EpochListing } from '../../shared/wire/index.ts';
import { epochInputs, postedEpoch, postedEpochNumbers, type BatchedContribution, type EpochInputs, type Sql } from '../db/index.ts';
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
        session: c.session,
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

/**
 * The posted epochs' files: built once, stored as `dir`/N.json (written once: the first bytes
 * stored are the file for good, whoever built them) and kept in memory. Without `dir` they live
 * only as long as the process (tests that need no restart).
 */
export class EpochFiles {
  private readonly built = new Map<number, { bytes: Buffer; hash: Hex; entry: EpochListing['epochs'][number] }>();

  constructor(
    private readonly sql: Sql,
    private readonly chain: { chainId: number; distributor: Address },
    private readonly dir: string | null = null,
  ) {}

  async file(epoch: number): Promise<{ bytes: Buffer; hash: Hex; entry: EpochListing['epochs'][number] }> {
    const kept = this.built.get(epoch);
    if (kept) return kept;
    const bytes = this.stored(epoch) ?? this.store(epoch, await this.build(epoch));
    let file: EpochFile;
    try {
      file = JSON.parse(bytes.toString('utf8')) as EpochFile;
    } catch (e) {
      throw new IdlegradError('INTERNAL', `stored epoch file ${this.path(epoch)} is not JSON: ${(e as Error).message}`);
    }
    if (file.format !== EPOCH_FILE_FORMAT || file.epoch !== epoch)
      throw new IdlegradError('INTERNAL', `stored epoch file ${this.path(epoch)} is not epoch ${epoch}'s (format ${file.format}, epoch ${file.epoch})`);
    // A stored file from another ledger (a data directory reused with another database) is refused, not served.
    const posted = await postedEpoch(this.sql, epoch);
    if (!posted) throw new IdlegradError('NOT_FOUND', `epoch ${epoch} is not a posted reward epoch`);
    if (file.root !== posted.root || file.txHash !== posted.txHash)
      throw new IdlegradError(
        'INTERNAL',
        `stored epoch file ${this.path(epoch)} is not this ledger's epoch ${epoch} (root ${file.root}, tx ${file.txHash}; the ledger: root ${posted.root}, tx ${posted.txHash})`,
      );
    const hash = keccak256(bytes);
    const out = { bytes, hash, entry: { epoch, root: file.root, txHash: file.txHash, round: file.round, file: `/api/epochs/${epoch}.json`, fileHash: hash } };
    this.built.set(epoch, out);
    return out;
  }

  private async build(epoch: number): Promise<Buffer> {
    const inputs = await epochInputs(this.sql, epoch);
    if (!inputs || !inputs.epoch.txHash) throw new IdlegradError('NOT_FOUND', `epoch ${epoch} is not a posted reward epoch`);
    return Buffer.from(JSON.stringify(epochFileOf(inputs, this.chain)));
  }

  private path(epoch: number): string {
    return this.dir ? join(this.dir, `${epoch}.json`) : `(memory) epoch ${epoch}`;
  }

  /** The stored file's bytes, or null when none is stored (or there is no store). */
  private stored(epoch: number): Buffer | null {
    if (!this.dir) return null;
    try {
      return readFileSync(this.path(epoch));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Stores `bytes` unless a file is already there (a link never replaces one); answers the stored bytes. */
  private store(epoch: number, bytes: Buffer): Buffer {
    if (!this.dir) return bytes;
    mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.path(epoch)}.${process.pid}.${randomUUID()}.tmp`;
    writeFileSync(tmp, bytes);
    try {
      linkSync(tmp, this.path(epoch));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
    return readFileSync(this.path(epoch));
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
