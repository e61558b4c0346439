// A volunteer without a browser: the same protocol, keys and codec as the web client,
// training with the CPU reference (shared/mlp.ts). Used by protocol tests and harnesses.
import WebSocket from 'ws';
import { generatePrivateKey, privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import { bytesToHex, hexToBytes, type Hex } from 'viem';
import {
  encodeEvidence,
  uploadFor,
  type EvidenceNeeds,
  residualCommitment,
  momentsDigest,
  stateDigests,
  zeroInnerState,
  type InnerStateEvidence,
  contributionToJson,
  delegationToJson,
  helloMessage,
  parseServerMessage,
  PROTOCOL_VERSION,
  trainShape,
  type ChainInfo,
  type ServerMessage,
} from '../shared/wire/index.ts';
import { CoordinatorApi } from '../web/src/client/api.ts';
import { signRecoverable } from 'tiny-secp256k1';
import { NodeSessionKey } from './node-session-key.ts';
import { ContributionSigners } from '../coordinator/round/report-signature.ts';
import { keepsInnerState, modelOf, type RunSpec } from '../shared/config.ts';
import { decodeFrame, hashFrame } from '../shared/codec.ts';
import { framesRoot } from '../shared/aggregate.ts';
import { runModelHash } from '../shared/model-hash.ts';
import { applyGlobalUpdate, buildContribution, cohortAggregate, encodeOwnUpdate, peerUpdateLimits, pseudoGradient, randomNonce } from '../shared/round.ts';
import type { AdamWState, Dataset } from '../shared/mlp.ts';
import { trainLocal } from '../shared/preset.ts';
import { assignmentIndices } from '../shared/assignment.ts';
import { contributionTypedData, delegationTypedData, eip712Domain, type Contribution, type Delegation } from '../shared/eip712.ts';

export type RoundMsg = Extract<ServerMessage, { type: 'round' }>;
export type CommittedMsg = Extract<ServerMessage, { type: 'committed' }>;

/** The run's training set as the coordinator serves it, checked against the run spec's shape. */
export async function trainSet(baseUrl: string): Promise<Dataset> {
  const api = new CoordinatorApi(baseUrl);
  return api.trainData(trainShape((await api.run()).run.dataset));
}

export interface LocalUpdate {
  frame: Uint8Array;
  frameHash: Hex;
  samples: number;
  steps: number;
  lossBefore: number;
  lossAfter: number;
  computeMs: number;
  /** keccak256(e_before ‖ e_after) of the error-feedback residuals (committed in the report). */
  residualHash: Hex;
}

export class VirtualVolunteer {
  readonly account: PrivateKeyAccount;
  /** The session key a hello certifies (node:crypto, so a test can sign synchronously); kept across reconnects, as a page keeps it. */
  sessionKey: NodeSessionKey | null = null;
  private readonly privateKey: Hex;
  readonly peerId = `vv-${Math.random().toString(16).slice(2, 18)}`;
  ws!: WebSocket;
  run!: RunSpec;
  chain!: ChainInfo;
  params!: Float32Array;
  momentum!: Float32Array;
  round = 0;
  modelHash!: Hex;
  residual!: Float32Array;
  readonly inbox: ServerMessage[] = [];
  /** Spot-check evidence by frame hash: the frame and the residual it was built with. */
  readonly evidence = new Map<Hex, { round: number; frame: Uint8Array; before: Float32Array; after: Float32Array; state?: InnerStateEvidence }>();
  /**
   * The inner AdamW state a run with inner.state 'kept' trains the next round from (zeros at first,
   * as a page after a reload); a test may replace it to forge the state before.
   */
  innerState: AdamWState | null = null;
  /** Answer the validator's `verify` requests (a test may turn this off to withhold evidence). */
  answerVerify = true;
  /** Evidence uploads the coordinator answered, in order: [status, body]. */
  readonly evidenceReplies: [number, string][] = [];
  private waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void; fail: (e: Error) => void }[] = [];
  /** Why the current socket closed, once it has. */
  private closedWhy: string | null = null;
  private inboxTypes = () => this.inbox.map((m) => (m.type === 'error' ? `error ${m.code}: ${m.message}` : m.type)).join(', ');

  readonly api: CoordinatorApi;

  constructor(
    readonly baseUrl: string,
    key: Hex = generatePrivateKey(),
  ) {
    this.account = privateKeyToAccount(key);
    this.privateKey = key;
    this.api = new CoordinatorApi(baseUrl);
  }

  get address(): Hex {
    return this.account.address.toLowerCase() as Hex;
  }

  async connect(): Promise<void> {
    const ws = (this.ws = new WebSocket(this.baseUrl.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws'));
    // A socket that closes (or never opens) fails whatever waits on it at once, naming why, instead of a bare timeout later.
    ws.on('error', (e) => (this.closedWhy = `socket error: ${e.message}`));
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return; // an earlier connection of this volunteer
      this.closedWhy = `socket to ${this.baseUrl} closed (${code}${reason.length ? ` ${reason.toString()}` : ''})${this.closedWhy ? `, ${this.closedWhy}` : ''}`;
      for (const w of this.waiters.splice(0)) w.fail(new Error(`${this.address.slice(0, 8)}: ${this.closedWhy} while waiting; inbox: ${this.inboxTypes()}`));
    });
    this.closedWhy = null;
    ws.on('message', (d) => {
      const m = parseServerMessage(JSON.parse(d.toString()));
      if (m.type === 'verify' && this.answerVerify) void this.uploadEvidence(m.round, m.frameHash, m.needs);
      const w = this.waiters.find((x) => x.pred(m));
      if (w) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      } else this.inbox.push(m);
    });
    const challenge = (await this.next('challenge')) as Extract<ServerMessage, { type: 'challenge' }>;
    this.send({
      type: 'hello',
      protocol: PROTOCOL_VERSION,
      address: this.address,
      peerId: this.peerId,
      signature: await this.account.signMessage({ message: helloMessage(challenge.challenge, this.peerId) }),
      adapter: null,
      gflops: null,
      session: this.sessionKeyFor(challenge.session).grant(challenge.challenge),
    });
    // A refused hello answers `error`: fail with it rather than wait for a welcome that will not come.
    const welcome = await this.next('welcome', 60_000, () => true, 'error');
    if (welcome.type !== 'welcome') throw new Error(`${this.address.slice(0, 8)}: hello to ${this.baseUrl} refused: ${JSON.stringify(welcome)}`);
    this.run = welcome.run;
    this.chain = welcome.chain;
    await this.syncSnapshot();
    this.residual = new Float32Array(this.run.paramCount);
  }

  async syncSnapshot(): Promise<void> {
    const snap = await this.api.snapshot(this.run.id, this.run.paramCount);
    if ((await runModelHash(this.run, snap.params)) !== snap.modelHash) throw new Error('snapshot does not hash to its model hash');
    Object.assign(this, { params: snap.params, momentum: snap.momentum, round: snap.round, modelHash: snap.modelHash });
  }

  send(m: unknown): void {
    this.ws.send(typeof m === 'string' ? m : JSON.stringify(m));
  }

  /** The next message of this type (from the inbox first). */
  next<T extends ServerMessage['type']>(
    type: T,
    timeoutMs = 60_000,
    pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    orType?: ServerMessage['type'],
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (m: ServerMessage) => (m.type === type && pred(m as never)) || m.type === orType;
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0] as never);
    if (this.closedWhy && this.ws.readyState === WebSocket.CLOSED)
      return Promise.reject(new Error(`${this.address.slice(0, 8)}: ${this.closedWhy}, no "${type}" message; inbox: ${this.inboxTypes()}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        pred: match,
        resolve: (m: ServerMessage) => (clearTimeout(t), resolve(m as never)),
        fail: (e: Error) => (clearTimeout(t), reject(e)),
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.address.slice(0, 8)}: no "${type}" message from ${this.baseUrl} within ${timeoutMs} ms; inbox: ${this.inboxTypes()}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  async train(r: RoundMsg, data: Dataset): Promise<LocalUpdate> {
    const t0 = performance.now();
    const B = this.run.inner.batchSize;
    const idx = assignmentIndices(r.seed ^ 0, r.steps, B, this.run.dataset.trainCount);
    const batches = Array.from({ length: r.steps }, (_, s) => idx.subarray(s * B, (s + 1) * B));
    // As a page: a run that keeps the inner state goes on from this volunteer's (on a copy).
    const kept = keepsInnerState(this.run) ? (this.innerState ?? zeroInnerState(this.run.paramCount)) : null;
    const stateAfter = kept && { m: kept.m.slice(), v: kept.v.slice(), t: kept.t };
    const res = trainLocal(modelOf(this.run), this.params, data, batches, this.run.inner.adamw, stateAfter ?? undefined);
    const samples = r.steps * B;
    const before = this.residual;
    const own = encodeOwnUpdate(this.run, r.round, pseudoGradient(this.params, res.params, before), samples);
    const { bytes, residual, hash: frameHash } = own;
    this.residual = residual;
    const state = kept && stateAfter ? { before: kept, after: { t: stateAfter.t, moments: momentsDigest(stateAfter) } } : undefined;
    if (stateAfter) this.innerState = stateAfter;
    this.evidence.set(frameHash, { round: r.round, frame: bytes, before, after: residual, ...(state ? { state } : {}) });
    return {
      frame: bytes,
      frameHash,
      samples,
      steps: r.steps,
      lossBefore: res.lossBefore,
      lossAfter: res.lossAfter,
      computeMs: Math.round(performance.now() - t0),
      residualHash: residualCommitment(before, residual, state && stateDigests(state)),
    };
  }

  /** The cohort aggregate over the frames this member holds, exactly as the browser computes it. */
  aggregate(round: number, frames: Uint8Array[]): { bytes: Uint8Array; hash: Hex; frameHashes: Hex[] } {
    const limits = peerUpdateLimits(this.run, round);
    // Addresses only choose the uploader, which these harnesses pick themselves.
    const held = frames.map((f, i) => ({ address: `0x${String(i).padStart(40, '0')}` as Hex, hash: hashFrame(f), frame: decodeFrame(f, limits) }));
    const agg = cohortAggregate(this.run, round, held[0], held.slice(1));
    return { bytes: agg.bytes, hash: agg.aggregateHash, frameHashes: agg.hashes };
  }

  async uploadAggregate(round: number, bytes: Uint8Array): Promise<Response> {
    return fetch(new URL(`api/runs/${this.run.id}/rounds/${round}/aggregate`, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes as unknown as BodyInit,
    });
  }

  contribution(r: RoundMsg, u: LocalUpdate, agg: { hash: Hex; frameHashes: Hex[] }, overrides: Partial<Contribution> = {}): Contribution {
    const c = buildContribution({
      run: this.run.id,
      round: r.round,
      cohort: r.cohort.id,
      frameHash: u.frameHash,
      aggregateHash: agg.hash,
      framesRoot: framesRoot(agg.frameHashes),
      residualHash: u.residualHash,
      samples: u.samples,
      steps: u.steps,
      lossBefore: u.lossBefore,
      lossAfter: u.lossAfter,
      computeMs: u.computeMs,
      nowMs: Date.now(),
      nonce: randomNonce(),
    });
    return { ...c, ...overrides };
  }

  /** This volunteer's session key for what a challenge names: the one it holds, or a new one for another run or domain. */
  private sessionKeyFor(at: { run: number; chainId: number; distributor: Hex }): NodeSessionKey {
    const k = this.sessionKey;
    if (k && k.certificate.run === at.run && k.domainKey === `${at.chainId}:${at.distributor.toLowerCase()}`) return k;
    const signDigest = (d: Uint8Array) => {
      const { signature, recoveryId } = signRecoverable(d, hexToBytes(this.privateKey));
      return bytesToHex(new Uint8Array([...signature, 27 + recoveryId]));
    };
    const domain = eip712Domain(at.chainId, at.distributor);
    return (this.sessionKey = new NodeSessionKey(domain, at.run, this.address, signDigest, Math.floor(Date.now() / 1000) + 24 * 3600));
  }

  /** The report's signature by this session's certified Ed25519 key (shared/session-key.ts), as a page signs it. */
  signSync(c: Contribution, domain = eip712Domain(this.chain.chainId, this.chain.distributor)): Hex {
    if (!this.sessionKey) throw new Error('no session key: connect first');
    return this.sessionKey.signReport(new ContributionSigners(domain).digest(c));
  }

  async sign(c: Contribution, domain?: ReturnType<typeof eip712Domain>): Promise<Hex> {
    return this.signSync(c, domain);
  }

  async report(c: Contribution, frameHashes: Hex[], signature?: Hex): Promise<ServerMessage> {
    this.send({ type: 'report', contribution: contributionToJson(c), signature: signature ?? (await this.sign(c)), frameHashes });
    const nonce = c.nonce.toString();
    // The reply to this report: its receipt ack (state pending; the commit's verdict for the same
    // nonce comes later as another ack), or the error that refused it (errors come in order).
    return this.next('ack', 30_000, (m) => m.nonce === nonce && m.state === 'pending', 'error');
  }

  /** Upload the evidence for a sampled contribution: own frame bytes and the residuals, in full where `needs` says so. */
  async uploadEvidence(round: number, frameHash: Hex, needs: EvidenceNeeds = { before: true, after: true, leaves: [] }): Promise<void> {
    const ev = this.evidence.get(frameHash);
    if (!ev) return;
    const body = encodeEvidence(uploadFor({ frame: ev.frame, residualBefore: ev.before, residualAfter: ev.after, state: ev.state }, needs));
    const res = await fetch(new URL(`api/runs/${this.run.id}/rounds/${round}/evidence/${this.address}`, this.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: body as unknown as BodyInit,
    });
    this.evidenceReplies.push([res.status, await res.text()]);
  }

  /** A Delegation for this device, signed by `wallet` (or by `signer` to forge one). */
  async delegation(
    wallet: PrivateKeyAccount,
    overrides: Partial<Delegation> = {},
    opts: { signer?: PrivateKeyAccount; domain?: ReturnType<typeof eip712Domain> } = {},
  ) {
    const d: Delegation = {
      wallet: wallet.address.toLowerCase() as Hex,
      device: this.address,
      nonce: 1n,
      expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
      ...overrides,
    };
    const signature = await (opts.signer ?? wallet).signTypedData(
      delegationTypedData(opts.domain ?? eip712Domain(this.chain.chainId, this.chain.distributor), d),
    );
    return { delegation: d, signature };
  }

  /** Send a `bind`; the reply is the updated account summary or the error that refused it. */
  async bind(d: { delegation: Delegation; signature: Hex }): Promise<ServerMessage> {
    // Account summaries pushed earlier (after commits) are not the reply: drop them first.
    for (let i = this.inbox.length - 1; i >= 0; i--) if (this.inbox[i].type === 'account') this.inbox.splice(i, 1);
    this.send({ type: 'bind', delegation: delegationToJson(d.delegation), signature: d.signature });
    const wallet = d.delegation.wallet.toLowerCase();
    return this.next('account', 30_000, (m) => m.summary.wallet === wallet, 'error');
  }

  /** Apply the published global update for `committed.round`, checking the new hash. */
  async applyCommitted(c: CommittedMsg): Promise<boolean> {
    if (c.round !== this.round) await this.syncSnapshot();
    else if (c.accepted > 0) {
      // By its content address when the coordinator named one (as pages fetch it).
      const bytes = c.updateHash ? await this.api.updateByHash(this.run.id, c.round, c.updateHash) : await this.api.update(this.run.id, c.round);
      const next = await applyGlobalUpdate(
        {
          run: this.run.id,
          paramTableHash: this.run.paramTableHash,
          round: this.round,
          modelHash: this.modelHash,
          params: this.params,
          momentum: this.momentum,
        },
        bytes,
        this.run,
      );
      Object.assign(this, { params: next.params, momentum: next.momentum, round: next.round, modelHash: next.modelHash });
    } else this.round = c.round + 1;
    return this.modelHash === c.modelHash;
  }

  close(): void {
    this.ws?.close();
  }
}
