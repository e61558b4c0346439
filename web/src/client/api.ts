// The coordinator's HTTP API, same origin. Binary bodies are parsed here and checked
// against what the run spec says before anything sized by them is allocated.
import type { RunSpec } from '../../../shared/config.ts';
import type { Address, Hex } from 'viem';
import { IdlegradError } from '../../../shared/errors.ts';
import type { Dataset } from '../../../shared/mlp.ts';
import type { AccountSummary, ChainInfo, DashboardState, RewardProof } from '../../../shared/protocol.ts';
import { httpError } from './errors.ts';

export interface Snapshot {
  round: number;
  modelHash: Hex;
  params: Float32Array;
  momentum: Float32Array;
}

export interface DatasetShape {
  /** Expected sample count and features per sample (from the run spec). */
  count: number;
  features: number;
  classes: number;
}

const bad = (msg: string, details?: string): never => {
  throw new IdlegradError('BAD_FRAME', msg, { details });
};

/**
 * Training set: u32 count | u32 features | labels[count] u8 | images[count·features] u8
 * (little-endian). The views share the response's buffer.
 */
export function parseDataset(buf: ArrayBuffer, shape: DatasetShape): Dataset {
  if (buf.byteLength < 8) bad(`dataset is ${buf.byteLength} bytes, shorter than its 8-byte header`);
  const dv = new DataView(buf);
  const count = dv.getUint32(0, true);
  const features = dv.getUint32(4, true);
  if (count !== shape.count || features !== shape.features) {
    bad('dataset does not match the run', `served ${count}×${features}, run expects ${shape.count}×${shape.features}`);
  }
  const expected = 8 + count + count * features;
  if (buf.byteLength !== expected) bad(`dataset is ${buf.byteLength} bytes, its header implies ${expected}`);
  const labels = new Uint8Array(buf, 8, count);
  for (let i = 0; i < count; i++) if (labels[i] >= shape.classes) bad(`dataset label ${labels[i]} at ${i} is not a class below ${shape.classes}`);
  return { count, features, classes: shape.classes, labels, images: new Uint8Array(buf, 8 + count, count * features) };
}

/**
 * Snapshot: u32 jsonLength | JSON {round, modelHash} | zero padding to a multiple of 4 |
 * params f32[paramCount] | momentum f32[paramCount]. Copies the arrays out (aligned, owned).
 */
export function parseSnapshot(buf: ArrayBuffer, paramCount: number): Snapshot {
  if (buf.byteLength < 4) bad('snapshot shorter than its length prefix');
  const jsonLength = new DataView(buf).getUint32(0, true);
  if (jsonLength > 4096 || 4 + jsonLength > buf.byteLength) bad(`snapshot header of ${jsonLength} bytes is implausible`);
  let head: { round?: unknown; modelHash?: unknown };
  try {
    head = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, jsonLength)));
  } catch (cause) {
    throw new IdlegradError('BAD_FRAME', 'snapshot header is not JSON', { cause });
  }
  const { round, modelHash } = head;
  if (typeof round !== 'number' || !Number.isInteger(round) || round < 0) bad(`snapshot round ${JSON.stringify(round)} is not a round number`);
  if (typeof modelHash !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(modelHash)) bad('snapshot modelHash is not a 32-byte hex string');
  const start = (4 + jsonLength + 3) & ~3;
  const expected = start + 8 * paramCount;
  if (buf.byteLength !== expected) bad(`snapshot is ${buf.byteLength} bytes, a ${paramCount}-parameter model needs ${expected}`);
  return {
    round: round as number,
    modelHash: (modelHash as string).toLowerCase() as Hex,
    params: new Float32Array(buf.slice(start, start + 4 * paramCount)),
    momentum: new Float32Array(buf.slice(start + 4 * paramCount, expected)),
  };
}

export class CoordinatorApi {
  constructor(
    /** Origin of the coordinator; '' means this page's origin. */
    private readonly base = '',
    private readonly fetchFn: typeof fetch = (...args) => fetch(...args),
  ) {}

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

  private async json<T>(what: string, path: string, init?: RequestInit): Promise<T> {
    return (await (await this.request(what, path, init)).json()) as T;
  }

  private postJson<T>(what: string, path: string, body: unknown): Promise<T> {
    return this.json<T>(what, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  /** The run being trained and its public settings (GET /api/run). */
  run(): Promise<{ run: RunSpec; round: number; chain: ChainInfo }> {
    return this.json('reading the run', '/api/run');
  }

  /** The raw training-set bytes (parse with parseDataset). */
  async trainData(): Promise<ArrayBuffer> {
    return (await this.request('downloading the training set', '/api/data/train')).arrayBuffer();
  }

  async snapshot(run: number, paramCount: number): Promise<Snapshot> {
    const res = await this.request('downloading the model snapshot', `/api/runs/${run}/snapshot`);
    return parseSnapshot(await res.arrayBuffer(), paramCount);
  }

  /** The global update frame that takes θ_round to θ_round+1. */
  async update(run: number, round: number): Promise<Uint8Array> {
    const res = await this.request(`downloading the round ${round} update`, `/api/runs/${run}/updates/${round}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async postAggregate(run: number, round: number, bytes: Uint8Array): Promise<{ aggregateHash: Hex }> {
    return this.json(`uploading the round ${round} aggregate`, `/api/runs/${run}/rounds/${round}/aggregate`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes as Uint8Array<ArrayBuffer>,
    });
  }

  /** Spot-check evidence (shared/evidence.ts): own frame ‖ residual before ‖ residual after. */
  async postEvidence(run: number, round: number, address: Address, body: Uint8Array): Promise<unknown> {
    return this.json(`uploading the round ${round} verification evidence`, `/api/runs/${run}/rounds/${round}/evidence/${address.toLowerCase()}`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: body as Uint8Array<ArrayBuffer>,
    });
  }

  rewardProof(address: Address): Promise<RewardProof> {
    return this.json('loading your reward proof', `/api/accounts/${address}/reward-proof`);
  }

  account(address: Address): Promise<AccountSummary> {
    return this.json('loading your account', `/api/accounts/${address}`);
  }

  /** Dev-chain gas for the device key, so it can pay for its claim. */
  faucet(address: Address): Promise<{ txHash: Hex }> {
    return this.postJson('asking the faucet for gas', '/api/faucet', { address });
  }

  claimed(address: Address, txHash: Hex): Promise<unknown> {
    return this.postJson('recording the claim', `/api/accounts/${address}/claimed`, { txHash });
  }

  dashboard(): Promise<DashboardState> {
    return this.json('loading the dashboard', '/api/dashboard');
  }
}
