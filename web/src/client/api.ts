// The coordinator's HTTP API. Every reply is parsed with its shared/wire parser (a reply that
// does not parse is an IdlegradError naming the keypath), binary bodies with their shared/wire
// decoder, checked against what the run spec says before anything sized by them is allocated.
// The page, the dashboard and the e2e clients all use this one client.
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../../../shared/errors.ts';
import type { Dataset } from '../../../shared/mlp.ts';
import {
  decodeDataset,
  decodeSnapshot,
  parseAccountSummary,
  parseAggregateReply,
  parseClaimedReply,
  parseContributionDetail,
  parseDashboardState,
  parseFaucetReply,
  parseHealth,
  parseOkReply,
  parsePartnersReply,
  parseRewardProof,
  parseRunInfo,
  parseSyncIndex,
  type AccountSummary,
  type AggregateReply,
  type ClaimedReply,
  type ContributionDetail,
  type DashboardState,
  type DatasetShape,
  type FaucetReply,
  type Health,
  type OkReply,
  type Parser,
  type PartnersReply,
  type RewardProof,
  type RunInfo,
  type Snapshot,
  type SyncIndex,
} from '../../../shared/wire/index.ts';
import { httpError } from './errors.ts';

/** A JSON reply through its parser; `what` names the request in the error. */
export async function readReply<T>(what: string, res: Response, parse: Parser<T>): Promise<T> {
  let body: unknown;
  try {
    body = await res.json();
  } catch (cause) {
    throw new IdlegradError('BAD_MESSAGE', `${what}: the reply is not JSON`, { cause });
  }
  try {
    return parse(body, 'reply');
  } catch (e) {
    throw e instanceof IdlegradError ? new IdlegradError(e.code, `${what}: ${e.shortMessage}`, { cause: e }) : e;
  }
}

export class CoordinatorApi {
  private readonly base: string;

  constructor(
    /** Origin of the coordinator (a trailing slash is fine); '' means this page's origin. */
    base = '',
    private readonly fetchFn: typeof fetch = (...args) => fetch(...args),
  ) {
    this.base = base.replace(/\/$/, '');
  }

  private async request(what: string, path: string, init?: RequestInit): Promise<Response> {
    let res: Response;
    try {
      res = await this.fetchFn(`${this.base}${path}`, init);
    } catch (cause) {
      throw new IdlegradError('INTERNAL', `${what} failed: the coordinator is unreachable`, { cause, details: path });
    }
    if (!res.ok) throw await httpError(what, res);
    return res;
  }

  private async json<T>(what: string, path: string, parse: Parser<T>, init?: RequestInit): Promise<T> {
    return readReply(what, await this.request(what, path, init), parse);
  }

  private postJson<T>(what: string, path: string, body: unknown, parse: Parser<T>): Promise<T> {
    return this.json(what, path, parse, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  private async bytes(what: string, path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.request(what, path)).arrayBuffer());
  }

  /**
   * A binary body goes as a Blob: DevTools (and Playwright, which drives the swarm's pages through
   * it) copies a typed-array body into its requestWillBeSent event as escaped text and base64, 5–7×
   * the body — a 42 MiB gpt-small residual became a 214 MiB event, and a body of about 80 MiB
   * overran V8's 512 MiB string limit (ERR_STRING_TOO_LONG) in the driver. A Blob it does not read.
   */
  private postBytes<T>(what: string, path: string, body: Uint8Array, parse: Parser<T>): Promise<T> {
    const blob = new Blob([body as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' });
    return this.json(what, path, parse, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: blob });
  }

  /** The run being trained, its round and model hash, and the chain (GET /api/run). */
  run(): Promise<RunInfo> {
    return this.json('reading the run', '/api/run', parseRunInfo);
  }

  health(): Promise<Health> {
    return this.json('checking the coordinator', '/api/health', parseHealth);
  }

  /** The training set, checked against the shape the run spec gives (trainShape(run.dataset)). */
  async trainData(shape: DatasetShape): Promise<Dataset> {
    return decodeDataset(await this.bytes('downloading the training set', '/api/data/train'), shape);
  }

  async snapshot(run: number, paramCount: number): Promise<Snapshot> {
    return decodeSnapshot(await this.bytes('downloading the model snapshot', `/api/runs/${run}/snapshot`), paramCount);
  }

  /** The global update frame that takes θ_round to θ_round+1. */
  update(run: number, round: number): Promise<Uint8Array> {
    return this.bytes(`downloading the round ${round} update`, `/api/runs/${run}/updates/${round}`);
  }

  /** What takes a model at round `from` to the current one: the updates and the snapshot, by content address and size. */
  syncIndex(run: number, from: number): Promise<SyncIndex> {
    return this.json('reading the model sync index', `/api/runs/${run}/sync?from=${from}`, parseSyncIndex);
  }

  /** A round's global update by its content address (an immutable URL: caches keep it). */
  updateByHash(run: number, round: number, hash: Hex): Promise<Uint8Array> {
    return this.bytes(`downloading the round ${round} update`, `/api/runs/${run}/updates/${round}/${hash}`);
  }

  /** A snapshot by its content address (from the sync index), checked against the run's parameter count. */
  async snapshotByHash(run: number, hash: Hex, paramCount: number): Promise<Snapshot> {
    return decodeSnapshot(await this.bytes('downloading the model snapshot', `/api/runs/${run}/snapshots/${hash}`), paramCount);
  }

  postAggregate(run: number, round: number, bytes: Uint8Array): Promise<AggregateReply> {
    return this.postBytes(`uploading the round ${round} aggregate`, `/api/runs/${run}/rounds/${round}/aggregate`, bytes, parseAggregateReply);
  }

  /** Spot-check evidence (shared/wire/evidence.ts): own frame and each residual in full or as its digest. */
  postEvidence(run: number, round: number, address: Address, body: Uint8Array): Promise<OkReply> {
    return this.postBytes(
      `uploading the round ${round} verification evidence`,
      `/api/runs/${run}/rounds/${round}/evidence/${address.toLowerCase()}`,
      body,
      parseOkReply,
    );
  }

  rewardProof(address: Address): Promise<RewardProof> {
    return this.json('loading your reward proof', `/api/accounts/${address}/reward-proof`, parseRewardProof);
  }

  account(address: Address): Promise<AccountSummary> {
    return this.json('loading your account', `/api/accounts/${address}`, parseAccountSummary);
  }

  /** A contribution's ledger row and timeline (GET /api/contributions/:id). */
  contribution(id: number): Promise<ContributionDetail> {
    return this.json(`loading contribution ${id}`, `/api/contributions/${id}`, parseContributionDetail);
  }

  partners(): Promise<PartnersReply> {
    return this.json('loading the partners', '/api/partners', parsePartnersReply);
  }

  /** Dev-chain gas for the device key, so it can pay for its claim. */
  faucet(address: Address): Promise<FaucetReply> {
    return this.postJson('asking the faucet for gas', '/api/faucet', { address }, parseFaucetReply);
  }

  claimed(address: Address, txHash: Hex): Promise<ClaimedReply> {
    return this.postJson('recording the claim', `/api/accounts/${address}/claimed`, { txHash }, parseClaimedReply);
  }

  dashboard(): Promise<DashboardState> {
    return this.json('loading the dashboard', '/api/dashboard', parseDashboardState);
  }
}
