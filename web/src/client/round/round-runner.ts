// One round on this page, DESIGN.md steps 2–6: sync θ_r, train in the worker, compress with
// error feedback, all-gather the cohort's frames, aggregate (and upload when this page is the
// designated uploader, or in relay mode), and report a signed contribution through the
// outbox. It keeps what a validator may ask for (evidence.ts) and the reports awaiting a verdict (verdicts.ts).
//
// Everything it touches is injected (trainer, model sync, links, clock, coordinator calls),
// so round-runner.test.ts runs whole cohorts of it with fakes and no real time.
import { verifyMessage, type Address, type Hex, type LocalAccount } from 'viem';
import { decodeFrame, toDense } from '../../../../shared/codec.ts';
import { keepsInnerState, type RunSpec } from '../../../../shared/config.ts';
import type { AdamWState } from '../../../../shared/mlp.ts';
import { eip712Domain, type Contribution, type Eip712Domain } from '../../../../shared/eip712.ts';
import { assignmentIndices } from '../../../../shared/assignment.ts';
import { adaptiveSteps, buildContribution, describeVote, maxPeerFrameBytes, peerUpdateLimits, randomNonce, updateHeader } from '../../../../shared/round.ts';
import { contributionToJson, momentsDigest, zeroInnerState, type ChainInfo, type ServerMessage } from '../../../../shared/wire/index.ts';
import { TrainingAbortedError } from '../../../../kernels/errors.ts';
import type { CoordinatorApi } from '../api.ts';
import type { Scheduler } from '../clock.ts';
import { describeError } from '../errors.ts';
import { CohortExchange, type ExchangeResult, type PeerTimeouts } from '../p2p/exchange.ts';
import type { PeerLink } from '../p2p/links.ts';
import { LinkPool } from '../p2p/link-pool.ts';
import type { SnapshotStore } from '../snapshot.ts';
import type { ClientStorage, OutboxRecord } from '../storage.ts';
import type { Trainer } from '../trainer.ts';
import { CohortAgreement, type AgreementMessage, type RelayMessage } from './agreement.ts';
import { settleAggregate, type Settled } from './settle.ts';
import { EvidenceKeeper, type Evidence, type VerifyMessage } from './evidence.ts';
import { Verdicts, type AckMessage } from './verdicts.ts';
import { countP2pBytes, exchangeEventLog } from './exchange-events.ts';

export { EVIDENCE_ASKED_KEPT, EVIDENCE_ROUNDS_KEPT, type Evidence } from './evidence.ts';

export type RoundMessage = Extract<ServerMessage, { type: 'round' }>;

/** The device key's part in a round: its address, the handshake and the report signatures. */
export type RoundAccount = Pick<LocalAccount, 'address' | 'signMessage' | 'signTypedData'>;

export interface RoundRunnerOptions {
  store: SnapshotStore;
  account: () => RoundAccount | null;
  /** This page's PeerJS id (the cohort lists members by address and peer id). */
  peerId: () => string | null;
  trainer: () => Pick<Trainer, 'train' | 'aggregate' | 'residualLevels'> | null;
  chain: () => ChainInfo | null;
  /** Step 2: θ_r with hash h_r (the page's model moved there, or an error). */
  syncModel: (round: number, modelHash: Hex) => Promise<Float32Array>;
  /** Settles when the page's preparation for the run (data, residual, model) has ended. */
  prepared: () => Promise<void>;
  /** Whether the volunteer still lends (Stop between steps skips the rest). */
  lending: () => boolean;
  scheduler: Scheduler;
  dial: (peerId: string) => PeerLink;
  /** Hands incoming links to the round's exchange (null: refuse them). */
  route: (exchange: CohortExchange | null) => void;
  api: Pick<CoordinatorApi, 'postAggregate' | 'postEvidence'>;
  storage: Pick<ClientStorage, 'getResidual' | 'putResidual'>;
  /** Step 6: writes the signed report to the outbox and sends it; false while the socket is down. */
  report: (rec: OutboxRecord) => Promise<boolean>;
  /** The session key's report signature (shared/session-key.ts). */ signReport: (domain: Eip712Domain, c: Contribution) => Promise<Hex>;
  device: () => 'cpu' | 'webgpu';
  partner: string | null;
  /** Local epoch ms (the outbox record's createdAt). */
  now: () => number;
  peerTimeouts?: Partial<PeerTimeouts>;
  /** Relay and announcement messages to the coordinator (agreement.ts); false while the socket is down. */
  send: (m: RelayMessage) => boolean;
  /** Checks a peer's handshake signature (default: viem's verifyMessage). */
  verifySignature?: (address: Address, message: string, signature: Hex) => Promise<boolean>;
}

interface Token {
  round: number;
  cancelled: boolean;
}

export class RoundRunner {
  private token: Token | null = null;
  private trainingNow = false;
  private exchange: CohortExchange | null = null;
  private agreement: CohortAgreement | null = null;
  private cancelClose: (() => void) | null = null;
  /** The error-feedback residual e (paramCount), kept in storage between visits. */
  private residual: Float32Array | null = null;
  /**
   * The inner AdamW state at the end of this page's last finished round of `run` (run setting
   * inner.state 'kept'): memory only, so a reload starts from zeros (t = 0), which a validator takes.
   */
  private innerState: { run: number; state: AdamWState } | null = null;
  /** What a validator may ask for, by own frame hash: memory only (evidence.ts). */
  private readonly evidence = new EvidenceKeeper();
  /** Reported frames the residual advanced past, until the commit's verdict (verdicts.ts). */
  private readonly verdicts = new Verdicts();
  /** Verified links kept between rounds for members that stay in this page's cohort (link-pool.ts). */
  private readonly links: LinkPool;

  constructor(private readonly o: RoundRunnerOptions) {
    this.links = new LinkPool(o.scheduler, (peerId, what) => o.store.log('info', `p2p: ${peerId}: ${what}`));
  }

  /** True while the worker trains a round (Stop aborts it then). */
  get training(): boolean {
    return this.trainingNow;
  }

  /** A relayed frame or an announcement from the coordinator, for the round in progress. */
  receive(m: AgreementMessage): void {
    this.agreement?.receive(m);
  }

  /** The evidence held for a frame, if it is still kept. */
  evidenceFor(frameHash: Hex): Evidence | undefined {
    return this.evidence.get(frameHash);
  }

  /** The stored residual when it is this run's (same parameter table), else zeros. */
  async loadResidual(run: RunSpec, runChanged: boolean): Promise<void> {
    if (!runChanged && this.residual) return;
    const stored = await this.o.storage.getResidual().catch(() => undefined);
    this.residual =
      stored && stored.run === run.id && stored.paramTableHash === run.paramTableHash && stored.residual.length === run.paramCount
        ? stored.residual
        : new Float32Array(run.paramCount);
  }

  /** A round message for this run while lending: run it, unless the previous one still trains. Settles when the round ends. */
  begin(m: RoundMessage, run: RunSpec): Promise<void> {
    if (this.trainingNow) {
      this.o.store.log('warn', `still training the previous round: round ${m.round} skipped`);
      return Promise.resolve();
    }
    if (this.token) this.token.cancelled = true;
    const token = { round: m.round, cancelled: false };
    this.token = token;
    return this.run(m, run, token).catch((e) => this.o.store.log('error', `round ${m.round}: ${describeError(e)}`));
  }

  private async run(m: RoundMessage, run: RunSpec, token: Token): Promise<void> {
    const { store, scheduler } = this.o;
    const key = this.o.account();
    const trainer = this.o.trainer();
    if (!key) throw new Error('no device key');
    if (!trainer) throw new Error('no GPU trainer');
    const me = key.address.toLowerCase() as Address;
    const peerId = this.o.peerId();
    const members = m.cohort.members.map((x) => ({ address: x.address.toLowerCase() as Address, peerId: x.peerId }));
    const self = members.find((x) => x.address === me && x.peerId === peerId);
    if (!self) {
      store.log('error', `round ${m.round}: this device (${me}, ${peerId}) is not in its cohort ${m.cohort.id}`);
      return;
    }

    // Accept and dial cohort links while training, so the exchange starts warm.
    this.closeExchange();
    // Links to members who left this page's cohort close; those to members who stayed are reused.
    this.links.keepOnly(new Set(members.map((x) => x.peerId)));
    const exchange = members.length > 1 ? this.openExchange(m, run, key, self, members) : null;
    // Relayed frames and the announcement may arrive while this page still trains.
    this.agreement?.dispose();
    const limits = peerUpdateLimits(run, m.round);
    const agreement =
      members.length > 1
        ? new CohortAgreement({
            round: m.round,
            self: me,
            members: members.map((x) => x.address),
            exchangeEndsAt: m.exchangeEndsAt,
            reportEndsAt: m.reportEndsAt,
            check: (bytes) => void decodeFrame(bytes, limits),
            send: this.o.send,
            scheduler,
            log: (level, text) => store.log(level, text),
          })
        : null;
    this.agreement = agreement;
    store.set({ cohort: { id: m.cohort.id, round: m.round, members: members.length, verified: 0, frames: 0 }, phase: 'syncing' });

    // 2. Sync.
    await this.o.prepared().catch(() => undefined);
    let before: Float32Array;
    try {
      before = await this.o.syncModel(m.round, m.modelHash);
    } catch (e) {
      store.log('error', `round ${m.round}: cannot get the round's model: ${describeError(e)}`);
      store.set({ phase: 'waiting' });
      return;
    }
    if (token.cancelled || !this.o.lending()) return;

    // 3. Train: the assignment is public (seed from the coordinator), so a validator can redo it.
    store.set({ phase: 'training' });
    const { batchSize } = run.inner;
    // Adaptive inner steps: what fits the rest of the training budget at last round's pace.
    const speed = store.get().samplesPerSec;
    const pace = speed ? (1000 * batchSize) / speed : null;
    const steps = adaptiveSteps(m.steps, m.startsAt + run.timing.trainMs - scheduler.now(), pace);
    const batches = assignmentIndices(m.seed, steps, batchSize, run.dataset.trainCount);
    this.takeGivenBack(run);
    // 4 happens in the worker too: it compresses v = θ_r − θ_local + e with error feedback and
    // hands back the frame and e'. The residual travels there and back (transferred, not copied).
    const residual = this.residual && this.residual.length === run.paramCount ? this.residual : new Float32Array(run.paramCount);
    this.residual = null;
    // A copy of the kept state goes to the worker (transferred): this page still holds it if the round fails.
    const kept = keepsInnerState(run) ? (this.innerState?.run === run.id ? this.innerState.state : zeroInnerState(run.paramCount)) : null;
    const state = kept ? { state: { m: kept.m.slice(), v: kept.v.slice(), t: kept.t } } : {};
    this.trainingNow = true;
    let result;
    const t0 = performance.now();
    try {
      result = await trainer.train({ params: before.slice(), batches, steps, adamw: run.inner.adamw, residual, update: updateHeader(run, m.round), ...state });
    } catch (e) {
      if (e instanceof TrainingAbortedError) store.log('info', `round ${m.round}: training stopped; nothing is reported for it`);
      else store.log('error', `round ${m.round}: training failed: ${describeError(e)}`);
      store.set({ phase: 'idle' });
      // The residual went to the worker with the round; the stored copy is the same e.
      await this.loadResidual(run, true);
      return;
    } finally {
      this.trainingNow = false;
    }
    const wallMs = performance.now() - t0;
    const { losses } = result;
    store.set({
      lastDuty: { round: m.round, busyMs: result.busyMs, wallMs: result.wallMs, preset: store.get().governance.preset },
      samplesPerSec: result.samples / Math.max(wallMs / 1000, 1e-3),
      lastLoss: { round: m.round, before: losses.before, after: losses.after, mean: losses.mean, steps: result.steps },
    });
    store.log(
      'info',
      `round ${m.round}: trained ${result.steps} steps (${result.samples} samples) in ${(wallMs / 1000).toFixed(1)} s, loss ${losses.before.toFixed(4)} → ${losses.after.toFixed(4)}, mean ${losses.mean.toFixed(4)}`,
    );
    // A frame that is never sent leaves the residual where it was; the inner state goes on from the
    // round trained (a validator allows a state up to a round's steps ahead per round it did not see).
    this.residual = result.residualBefore;
    if (kept && !result.state) throw new Error(`round ${m.round}: the trainer did not hand back the inner AdamW state this run keeps`);
    if (result.state) this.innerState = { run: run.id, state: result.state.after };
    if (token.cancelled) {
      store.log('warn', `round ${m.round}: a newer round arrived during training; result dropped`);
      return;
    }
    if (scheduler.now() > m.reportEndsAt) {
      store.log('warn', `round ${m.round}: training finished after the report deadline; nothing to report`);
      return;
    }
    // Until the agreement step says the frame is inside the aggregate this page signs, the whole
    // update v = e' + decode(frame) stays in the residual (a left-out frame is not lost).
    const wholeUpdate = () => {
      const v = result.residual.slice();
      const d = toDense(decodeFrame(result.frame, limits));
      for (let i = 0; i < v.length; i++) v[i] += d[i];
      return v;
    };
    this.residual = wholeUpdate();

    // Keep the evidence.
    const samples = result.steps * batchSize;
    const own = { bytes: result.frame, hash: result.frameHash };
    // Its own copy of e' (the residual itself goes to the worker, detached here, next round; a give-back
    // changes it in place), which the report commits to and a validator may ask for after that.
    const innerEvidence = result.state && { before: result.state.before, after: { t: result.state.after.t, moments: momentsDigest(result.state.after) } };
    const evidence = this.evidence.keep(own.hash, {
      run: run.id,
      round: m.round,
      frame: own.bytes,
      before: result.residualBefore,
      after: result.residual.slice(),
      ...(innerEvidence ? { state: innerEvidence } : {}),
    });
    store.set({ ownFrames: { count: store.get().ownFrames.count + 1, bytes: store.get().ownFrames.bytes + own.bytes.byteLength } });
    const keepResidual = (residual: Float32Array) => {
      this.residual = residual;
      this.saveResidual(run);
    };
    keepResidual(this.residual);

    // 5. Exchange (never blocks reporting: it settles at the deadline at the latest).
    let exchanged: ExchangeResult | null = null;
    if (exchange) {
      store.set({ phase: 'exchanging' });
      exchange.setOwnFrame(own.bytes);
      exchanged = await exchange.finished;
      const left = exchanged.peers.filter((p) => p.status !== 'complete');
      store.log(
        left.length ? 'warn' : 'info',
        `round ${m.round}: exchange got ${exchanged.frames.length}/${members.length - 1} peer frame(s)${left.length ? `; left out: ${left.map((p) => `${p.peerId} (${p.failure?.code ?? p.status})`).join(', ')}` : ''}`,
      );
    }
    if (token.cancelled) return;

    // Relay what WebRTC could not carry, aggregate, and sign the cohort's announced frame set.
    let settled: Settled | null;
    try {
      settled = await settleAggregate({
        run,
        round: m.round,
        exchangeEndsAt: m.exchangeEndsAt,
        reportEndsAt: m.reportEndsAt,
        trainer,
        own: { address: me, hash: own.hash, bytes: own.bytes },
        exchanged,
        agreement,
        api: this.o.api,
        store,
        cancelled: () => token.cancelled,
      });
    } catch (e) {
      store.log('error', `round ${m.round}: could not aggregate the cohort's frames: ${describeError(e)}`);
      store.set({ phase: 'waiting' });
      return;
    }
    if (token.cancelled) return;
    if (!settled) {
      store.set({ phase: 'waiting' });
      return;
    }
    const { agg, unsentAggregate, omitted } = settled;
    // The residual advances only for a frame inside the aggregate this page signs, and comes
    // back if the commit refuses the contribution (settled). An aggregate signed because the
    // uploader omitted our frame (settle.ts) is never uploaded: the whole update stays.
    const advanced = !omitted && agg.hashes.includes(own.hash.toLowerCase() as Hex);
    if (advanced) keepResidual(result.residual);
    else if (omitted) store.log('warn', `round ${m.round}: our frame was left out by the uploader; its whole update stays in the residual`);
    else {
      // Why the aggregator refused it ('opposed': it pointed away from the cohort's other frames), when it did.
      const why = agg.excluded.find((x) => x.hash === own.hash.toLowerCase())?.reason;
      store.log(
        'warn',
        `round ${m.round}: our frame is not in the cohort's aggregate${why ? ` (refused: ${why})` : ''}; its whole update stays in the residual`,
      );
    }

    // 6. Report: a signed contribution naming our frame and the aggregate we agree with.
    store.set({ phase: 'reporting' });
    const chain = this.o.chain();
    if (!chain) throw new Error('no chain info from the coordinator');
    const contribution = buildContribution({
      run: run.id,
      round: m.round,
      cohort: m.cohort.id,
      frameHash: own.hash,
      aggregateHash: agg.aggregateHash,
      framesRoot: agg.framesRoot,
      residualHash: await this.evidence.commitment(evidence, store.log, trainer.residualLevels?.bind(trainer)),
      samples,
      steps: result.steps,
      lossBefore: losses.before,
      lossAfter: losses.after,
      computeMs: wallMs,
      nowMs: scheduler.now(),
      nonce: randomNonce(),
      // Signed: the partner whose widget this page runs in is credited only through this field.
      partner: this.o.partner,
    });
    const signature = await this.o.signReport(eip712Domain(chain.chainId, chain.distributor), contribution);
    const rec: OutboxRecord = {
      nonce: contribution.nonce.toString(),
      run: run.id,
      round: m.round,
      createdAt: this.o.now(),
      report: {
        type: 'report',
        contribution: contributionToJson(contribution),
        signature,
        frameHashes: agg.hashes,
        device: this.o.device(),
      },
      aggregate: unsentAggregate,
    };
    if (advanced) {
      this.verdicts.track(rec.nonce, { run, round: m.round, frame: own.bytes });
    }
    // Written before it is sent; deleted only when the coordinator answers for this nonce.
    if (await this.o.report(rec))
      store.log('info', `round ${m.round}: reported frame ${own.hash.slice(0, 10)}… in aggregate ${agg.aggregateHash.slice(0, 10)}… (${describeVote(agg)})`);
    else store.log('warn', `round ${m.round}: the coordinator connection is down; the report waits in the outbox and is sent on reconnect`);
    if (this.token === token) store.set({ phase: 'waiting' });
  }

  /** The coordinator's verdict on one of our reports at commit: a refused update goes back into the residual. */
  settled(m: AckMessage): void {
    const run = this.verdicts.settle(m, this.o.store);
    if (run && this.residual && !this.trainingNow) this.takeGivenBack(run);
  }

  /** Adds the updates given back for `run` to the residual it holds, and saves it. */
  private takeGivenBack(run: RunSpec): void {
    if (this.verdicts.giveBackInto(run, this.residual)) this.saveResidual(run);
  }

  private saveResidual(run: RunSpec): void {
    const residual = this.residual;
    if (!residual) return;
    this.o.storage
      .putResidual({ run: run.id, paramTableHash: run.paramTableHash, residual })
      .catch((e) => this.o.store.log('warn', `could not save the residual: ${describeError(e)}`));
  }

  /** Step 8 from our side: the validator sampled one of our contributions; upload its evidence. */
  answerVerify(m: VerifyMessage): Promise<void> {
    return this.evidence.answer(m, this.o);
  }

  private openExchange(
    m: RoundMessage,
    run: RunSpec,
    key: RoundAccount,
    self: { address: Address; peerId: string },
    members: { address: Address; peerId: string }[],
  ): CohortExchange {
    const { store, scheduler } = this.o;
    const limits = peerUpdateLimits(run, m.round);
    const counts = () => store.set({ cohort: store.get().cohort && { ...store.get().cohort!, ...ex.counts() } });
    const ex = new CohortExchange({
      run: run.id,
      round: m.round,
      self,
      members,
      endsAt: m.exchangeEndsAt,
      maxFrameBytes: maxPeerFrameBytes(run),
      decode: (bytes) => decodeFrame(bytes, limits),
      sign: (message) => key.signMessage({ message }),
      verify: this.o.verifySignature ?? ((address, message, signature) => verifyMessage({ address, message, signature })),
      dial: (peerId) => this.o.dial(peerId),
      scheduler,
      timeouts: this.o.peerTimeouts,
      onEvent: exchangeEventLog(store, m.round, counts),
      reuse: (peerId) => this.links.take(peerId),
      // Parked for at most a round's length: the next round's exchange takes them or they close.
      park: (link, pending) => this.links.park(link, run.timing.trainMs + run.timing.exchangeMs + run.timing.reportMs, pending),
      onBytes: countP2pBytes(store),
    });
    this.exchange = ex;
    this.o.route(ex);
    ex.start();
    // Links stay open after our exchange settles so slower members still get our frame; at the
    // report deadline or when the next round begins they are parked for the next round.
    this.cancelClose = scheduler.after(Math.max(0, m.reportEndsAt - scheduler.now()), () => this.closeExchange(ex));
    return ex;
  }

  private closeExchange(which: CohortExchange | null = this.exchange): void {
    if (!which) return;
    which.dispose();
    if (this.exchange === which) {
      this.exchange = null;
      this.o.route(null);
      this.cancelClose?.();
      this.cancelClose = null;
    }
  }

  dispose(): void {
    if (this.token) this.token.cancelled = true;
    this.agreement?.dispose();
    this.closeExchange();
    this.links.closeAll();
  }
}
