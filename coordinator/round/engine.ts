// The run and round state machine (DESIGN.md "One round, end to end", steps 1 and 5–7).
//
// idle ──(≥ minVolunteers ready)──▶ open(r): cohorts assigned (cohorts.ts: last round's where still ready), `round` sent
// open(r) ──(every member reported and its aggregate uploaded, or reportEndsAt)──▶ commit(r),
//           never before startsAt + trainMs (decide.ts commitAt: skipping work buys no pace)
// commit(r): accept cohort aggregates signed by ≥ 2/3 of the cohort's reporting members
//            (or a member's own single-frame upload: relay mode; the pure decision is
//            decide.ts decideRound), combine them with the run's
//            robust aggregator (weighted by samples; a cohort aggregate it refuses earns its
//            members no credit), apply the outer step on the CPU in float32, publish h_{r+1}.
// A round that loses every cohort ends with the model unchanged.
// On time is judged at receipt: when commit(r) begins the round closes (what arrives later is
// refused STALE_ROUND), and the commit first waits, IN_FLIGHT_WAIT_MS at most, for the reports
// and uploads that arrived before and are still being checked or written — a loop held busy past
// the deadline or a slow ledger batch loses no on-time work. Uploads are decoded and hashed on a
// thread of their own (upload-thread.ts), so a round's upload burst does not hold the loop.
// Upload admission: an uploaded aggregate enters the round only once a seated member's report
// names it (so each cohort holds at most one admitted aggregate per member); uploads nobody has
// named yet wait in a pool of at most one per seat, and past that are refused LIMIT_EXCEEDED
// (an honest uploader refused by a flood reports, and its outbox retries: a named hash is
// always admitted). A combine refusal blames only the cohort that chose the aggregate; a relay
// whose frame makes a cohort's quorum aggregate look like a copy is the copier, not the victim. A quarantined identity
// (coordinator/verify/quarantine.ts) is seated in a cohort of its own whose aggregate is accepted for
// its spot check but left out of the combine.
import type { Address, Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import { maxSamplesPerReport, modelOf } from '../../shared/config.ts';
import { decodeFrame, type DecodedFrame } from '../../shared/codec.ts';
import { framesRoot, type CombineVersion } from '../../shared/aggregate.ts';
import { applyGlobalUpdate, compressGlobalUpdate, peerUpdateLimits } from '../../shared/round.ts';
import { assignmentSeed } from '../../shared/assignment.ts';
import type { Dataset } from '../../shared/mlp.ts';
import type { Eip712Domain } from '../../shared/eip712.ts';
import {
  contributionFromJson,
  FrameKind,
  type ClientMessage,
  type EvidenceDigests,
  type Rejection,
  type DeviceKind,
  type RoundSummary,
  type RunStatus,
  type ServerMessage,
} from '../../shared/wire/index.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { type Ledger, type ModelState, type RoundCommit, type ReportOrigin, PendingWriter } from '../db/index.ts';
import { ContributionSigners, RecoveryThread } from './report-signature.ts';
import { certifySession, recertifySession, type CertifiedKey, type JournaledCertificate } from './session-keys.ts';
import type { SessionGrant } from '../../shared/session-key.ts';
import { EvalThread } from './eval-thread.ts';
import { commitAt, creditWeiOf, type RoundReport } from './decide.ts';
import { RoundDesk, type DeskReport, type DeskVerdict } from './round-desk.ts';
import { verificationOf, vestsRoundOf } from '../verify/index.ts';
import { CombineThread } from './combine-thread.ts';
import { CommitClock, type CommitPhases } from './commit-phases.ts';
import { forEachInSlices } from '../slices.ts';
import { inThread, type CombineGroup } from '../../shared/robust-combine.ts';
import { CombineInputs } from './combine-inputs.ts';
import { PublishedObjects } from './published.ts';
import { CohortSeating } from './cohorts.ts';
import { UploadThread } from './upload-thread.ts';

export interface Session {
  id: number;
  address: Address;
  peerId: string;
  ready: boolean;
  send(msg: ServerMessage): void;
  /** From hello: the partner widget this session runs in (shown only: credit follows the partner signed in each report), and what trains its rounds. */
  partner?: string | null;
  device?: DeviceKind | null;
  /** The Ed25519 session key the hello certified (session-keys.ts): every report of this session is signed by it. */
  sessionKey?: CertifiedKey | null;
}

interface Member {
  address: Address;
  peerId: string;
  sessionId: number;
}

interface Report extends RoundReport {
  lossAfter: number;
  /** The signed report's nonce: the commit's verdict goes back to the member as an `ack` for it. */
  nonce: string;
}

interface OpenRound {
  round: number;
  cohorts: Member[][];
  startsAt: number;
  exchangeEndsAt: number;
  reportEndsAt: number;
  reports: Map<Address, Report>;
  /** Each seated account's cohort, and how many seats there are: membership by lookup, not by scanning cohorts. */
  seats: Map<Address, number>;
  /** How many reports name each aggregate hash (so an upload knows at once whether it is named). */
  namedBy: Map<Hex, number>;
  /** Reports whose named aggregate is not uploaded yet: the round is complete when this is 0 and every seat reported. */
  awaiting: number;
  /** Admitted: named by a seated member's report. */
  aggregates: Map<Hex, DecodedFrame>;
  /** Uploaded, not yet named by any report (at most one per seat). */
  unnamed: Map<Hex, DecodedFrame>;
  /** The bytes of every upload above, by hash: the combine's inputs are kept from them for auditors (combine-inputs.ts). */
  uploadedBytes: Map<Hex, Uint8Array>;
  timer: NodeJS.Timeout;
  /** Cohorts of one quarantined identity each: trained, reported and spot-checked, never applied. */
  quarantined: Set<number>;
  /** Members that relayed their frame this round (one relay each; nothing of it is kept). */
  relayed: Set<Address>;
  /** Cohorts whose frame set was announced (the first announcement per cohort stands). */
  announced: Set<number>;
  /**
   * When the round stopped taking reports and uploads (its commit began: the report deadline's
   * timer, everyone in, or a drain); null while it takes them. What arrived before is on time.
   */
  closedAt: number | null;
  /** The commit took its decision: a report recorded after this can no longer count. */
  decided: boolean;
  /** Reports and uploads received while the round was open and not yet recorded: the commit waits for them (bounded). */
  inFlight: Set<Promise<unknown>>;
  /** The round's opening on the journal (cluster mode): a report is journaled only after it. */
  journaled: Promise<unknown>;
}

/** A round as its opening engine announced it: enough for another engine to decide it (resumeRound). */
export interface RoundOpening {
  round: number;
  /** The model hash θ_r the round trains from. */
  modelHash: Hex;
  startsAt: number;
  exchangeEndsAt: number;
  reportEndsAt: number;
  cohorts: { address: Address; peerId: string }[][];
  /** Cohorts of one quarantined identity each (trained, never applied); absent: none. */
  quarantined?: number[];
}

/** A signed report as the engine that received it journaled it: the signer it recovered, and when it arrived. */
export interface JournaledReport {
  round: number;
  account: Address;
  nonce: string;
  receivedAt: number;
  message: Extract<ClientMessage, { type: 'report' }>;
  /** The session certificate whose key signed `message` (the hello's, without its proof): the successor re-checks the chain with it. */
  certificate: JournaledCertificate | null;
}

/**
 * Where the engine writes what it accepts before it says so (cluster mode: the run's NATS
 * JetStream stream, coordinator/cluster/round-bus.ts). A report or upload is acknowledged only
 * once its promise resolves, so whatever a volunteer was told is accepted outlives this process
 * and a successor can decide the round (resumeRound). Absent: single process, nothing journaled.
 */
export interface RoundJournal {
  opened(o: RoundOpening): Promise<unknown>;
  report(r: JournaledReport): Promise<unknown>;
  aggregate(round: number, hash: Hex, bytes: Uint8Array): Promise<unknown>;
  /** After the ledger committed the round; a failure is logged, not thrown (the ledger is the record). */
  committed(round: number, modelHash: Hex): Promise<unknown>;
}

/** What a resumed round took back (resumeRound): reports and aggregates re-admitted, and each report refused, with why. */
export interface ResumedRound {
  round: number;
  reports: number;
  aggregates: number;
  refused: { account: Address; nonce: string; code: string; prose: string }[];
}

/**
 * How long a commit waits, at most, for the reports and uploads that arrived before the round
 * closed but are still being checked or written (signature thread, ledger batch, upload thread)
 * when it begins. Past it, what is still in flight is refused STALE_ROUND, saying so.
 */
export const IN_FLIGHT_WAIT_MS = 10_000;

/** How long the last commit waited for in-flight work, and for how much (EngineEvents.settled). */
export interface InFlightWait {
  round: number;
  /** Reports and uploads in flight when the round closed. */
  waitedFor: number;
  waitedMs: number;
  /** Still in flight when the wait ran out (refused STALE_ROUND): 0 unless the bound was hit. */
  leftOver: number;
}

export interface EngineEvents {
  committed(summary: RoundSummary): void;
  accountsChanged(accounts: Address[]): void;
  /**
   * Spot-check sampling for the round's accepted contributions (coordinator/verify/validator.ts),
   * awaited after the ledger commit and before the round is published, so a sampled
   * contribution is marked before any epoch can batch it. θ_r is the model they trained from.
   */
  verify?(round: number, thetaR: Float32Array, acceptedIds: number[]): Promise<unknown>;
  /** Whether an identity is quarantined (coordinator/verify/quarantine.ts): seated alone, its update never applied. */
  quarantined?(account: Address): boolean;
  /** The round's phase changed (coordinator/ops metrics): open, committing, then idle (or open again when a commit failed). */
  phase?(phase: 'open' | 'committing' | 'idle', round: number): void;
  /** A commit decided its contributions: how many were accepted, and each refusal's code. */
  decided?(accepted: number, rejected: Rejection['code'][]): void;
  /**
   * Whether the lead registered this partner id (coordinator/db/partners.ts). A report's signed
   * partner earns partner credit only then; absent: no partner is registered.
   */
  partnerRegistered?(id: string): boolean;
  /** A commit waited for the reports and uploads in flight when its round closed (only when there were some). */
  settled?(wait: InFlightWait): void;
  /** Cluster mode: journal each opening, report and upload before acknowledging it (RoundJournal). */
  journal?: RoundJournal;
  /** A commit finished (or threw): the wall and CPU time of each of its phases (commit-phases.ts). */
  commitPhases?(phases: CommitPhases): void;
}

/** Resolves after the event loop has served what is waiting (I/O, timers): a long computation's pause. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Why the closed round `open` takes nothing that arrives at `at`. */
function closedWhy(open: OpenRound, at: number): string {
  const past = at - open.reportEndsAt;
  return past >= 0
    ? `the round closed (${past} ms past its report deadline)`
    : 'the round closed early (every member was in, or the coordinator is shutting down)';
}

/** `desk` given all of `open` that the decision reads: its opening, its reports in recorded order, its admitted aggregates. */
function feedDesk(open: OpenRound, desk: Pick<RoundDesk, 'open' | 'report' | 'aggregate'>): void {
  desk.open(
    open.round,
    open.cohorts.map((c) => c.map((m) => m.address)),
    open.quarantined,
  );
  desk.report(open.round, [...open.reports.values()].map(deskReportOf));
  for (const [hash, frame] of open.aggregates) desk.aggregate(open.round, hash, frame);
}

/** What the round desk keeps of a recorded report (not its nonce: the acks are the engine's). */
const deskReportOf = ({ id, account, cohort, frameHash, aggregateHash, frameHashes, samples, lossAfter }: Report): DeskReport => ({
  id,
  account,
  cohort,
  frameHash,
  aggregateHash,
  frameHashes,
  samples,
  lossAfter,
});

export class RoundEngine {
  private readonly sessions = new Map<number, Session>();
  /** Sessions whose `ready` is true, kept by addSession/removeSession/setReady: maybeStartRound's O(1) check before it sorts. */
  private readyCount = 0;
  private open: OpenRound | null = null;
  /** resumeRound is putting a journaled round back: no early commit until all of it is in. */
  private resuming = false;
  private committing = false;
  /** The commit running now (or the last one), for drain(). */
  private commitDone: Promise<void> = Promise.resolve();
  private stopped = false;
  /** Shutting down (drain): no new round opens. */
  private draining = false;
  /** Set by the lead (coordinator/http/lead.ts): a paused or stopped run lets its open round commit and starts no new one. */
  private runStatus: RunStatus = 'active';
  readonly spec;
  private readonly signers: ContributionSigners;
  private readonly pending: PendingWriter;
  private readonly recovery = new RecoveryThread();
  private readonly evaluator: EvalThread;
  /** The run's verification settings (vestingRounds: coordinator/verify/settings.ts, the credit rule). */
  private readonly verification;
  private readonly combiner: CombineThread;
  private readonly uploads: UploadThread;
  /** The published updates and snapshots, content-addressed (published.ts). */
  readonly published: PublishedObjects;
  /** The uploaded bytes of recent rounds' combine inputs, for auditors (GET /api/runs/:id/rounds/:round/aggregates/:hash). */
  readonly combineInputs = new CombineInputs();
  /** Last round's cohorts and the links that did not connect in them (cohorts.ts). */
  private readonly seating: CohortSeating;

  constructor(
    readonly run: RunSpec,
    private state: ModelState,
    private readonly ledger: Ledger,
    private readonly heldOut: Dataset,
    readonly domain: Eip712Domain,
    private readonly events: EngineEvents,
    private readonly now: () => number = Date.now,
    /** IN_FLIGHT_WAIT_MS unless a test shortens it. */
    private readonly inFlightWaitMs = IN_FLIGHT_WAIT_MS,
    /** 'process': the combine and the round desk in one child process (the scale harness: the aggregation role's own process); default threads. */
    combineIn: 'threads' | 'process' = 'threads',
  ) {
    this.spec = modelOf(run);
    this.signers = new ContributionSigners(domain);
    this.pending = new PendingWriter(ledger.sql);
    this.evaluator = new EvalThread(this.spec, heldOut);
    this.verification = verificationOf(run);
    this.combiner = new CombineThread(run, undefined, combineIn === 'process');
    this.uploads = new UploadThread(run);
    this.seating = new CohortSeating(run.cohortSize);
    this.published = new PublishedObjects({ run: run.id, update: (round) => ledger.update(run.id, round), model: () => this.state });
  }

  get round(): number {
    return this.state.round;
  }
  get modelHash(): Hex {
    return this.state.modelHash;
  }
  get model(): Readonly<ModelState> {
    return this.state;
  }
  /** The aggregation child process's pid when the engine was made with combineIn 'process', else null. */
  get aggregationPid(): number | null {
    return this.combiner.pid;
  }
  get volunteers(): number {
    return this.readyCount;
  }
  get openRound(): { round: number; cohorts: { address: Address; peerId: string }[][] } | null {
    return this.open && { round: this.open.round, cohorts: this.open.cohorts.map((c) => c.map(({ address, peerId }) => ({ address, peerId }))) };
  }

  addSession(s: Session): void {
    this.removeSession(s.id);
    this.sessions.set(s.id, s);
    if (s.ready) this.readyCount++;
  }
  /** A hello's session key checked and its certificate kept (session-keys.ts); refused with a named code otherwise. */
  certifySession(address: Address, challenge: string, grant: SessionGrant): Promise<CertifiedKey> {
    return certifySession(this.certificateChecks(), address, challenge, grant, Math.floor(this.now() / 1000));
  }

  private certificateChecks() {
    return { thread: this.recovery, domain: this.domain, run: this.run.id, store: this.ledger };
  }

  /** The address that signed a hello's `message` (EIP-191), recovered on the engine's recovery thread; BAD_SIGNATURE when none. */
  helloSigner(message: string, signature: Hex): Promise<Address> {
    return ContributionSigners.messageSignerOn(this.recovery, message, signature, 'hello');
  }

  /** Send to the ready-or-not session of `address` (the newest one). False when it is not connected. */
  sendTo(address: Address, msg: ServerMessage): boolean {
    const s = [...this.sessions.values()].reverse().find((x) => x.address === address);
    if (!s) return false;
    s.send(msg);
    return true;
  }
  removeSession(id: number): void {
    if (this.sessions.get(id)?.ready) this.readyCount--;
    this.sessions.delete(id);
  }

  setReady(id: number, ready: boolean): void {
    const s = this.sessions.get(id);
    if (!s) return;
    if (s.ready !== ready) this.readyCount += ready ? 1 : -1;
    s.ready = ready;
    // O(1) until enough sessions are ready: 5,000 pages saying `start` at once used to sort every
    // session 5,000 times (11 s of event loop in `npm run load`, round 0 lost to STALE_ROUND).
    if (ready) this.maybeStartRound();
  }

  get status(): RunStatus {
    return this.runStatus;
  }
  setStatus(status: RunStatus): void {
    this.runStatus = status;
    if (status === 'active') this.maybeStartRound();
  }

  stop(): void {
    this.stopped = true;
    this.recovery.stop();
    this.evaluator.stop();
    this.combiner.stop();
    this.uploads.stop();
    if (this.open) clearTimeout(this.open.timer);
  }

  /**
   * Graceful shutdown (coordinator/ops/shutdown.ts): no new round opens, the open round commits
   * now with what it holds (so every acknowledged report is decided, not aborted on restart),
   * and this resolves when no commit runs: to the round it committed, or null when none was open.
   */
  async drain(): Promise<number | null> {
    this.draining = true;
    const round = this.open?.round ?? null;
    await this.commit();
    return round;
  }

  maybeStartRound(): void {
    if (this.stopped || this.draining || this.runStatus !== 'active' || this.open || this.committing) return;
    if (this.run.maxRounds > 0 && this.state.round >= this.run.maxRounds) return;
    // Seats are distinct ready accounts, never more than the ready sessions.
    if (this.readyCount < this.run.minVolunteers) return;
    const ready = [...this.sessions.values()].filter((s) => s.ready).sort((a, b) => (a.address < b.address ? -1 : 1));
    // One session per account: a second tab of the same key does not double its cohort seat.
    const seats = ready.filter((s, i) => i === 0 || s.address !== ready[i - 1].address);
    if (seats.length < this.run.minVolunteers) return;
    const held = seats.filter((s) => this.events.quarantined?.(s.address));
    const heldIds = new Set(held.map((s) => s.id));
    const free = seats.filter((s) => !heldIds.has(s.id));
    // Last round's cohorts where their members are still ready (cohorts.ts): pages keep their links.
    const byAddress = new Map(free.map((s) => [s.address, s]));
    const cohorts: Member[][] = this.seating.form(free.map((s) => s.address)).map((c) =>
      c.map((a) => {
        const s = byAddress.get(a)!;
        return { address: s.address, peerId: s.peerId, sessionId: s.id };
      }),
    );
    const quarantined = new Set(held.map((s) => cohorts.push([{ address: s.address, peerId: s.peerId, sessionId: s.id }]) - 1));
    const startsAt = this.now();
    const { trainMs, exchangeMs, reportMs } = this.run.timing;
    const round = this.state.round;
    const open = this.openRoundOf(round, cohorts, quarantined, startsAt, startsAt + trainMs + exchangeMs, startsAt + trainMs + exchangeMs + reportMs);
    this.open = open;
    if (this.events.journal) {
      const opening: RoundOpening = {
        round,
        modelHash: this.state.modelHash,
        startsAt,
        exchangeEndsAt: open.exchangeEndsAt,
        reportEndsAt: open.reportEndsAt,
        cohorts: cohorts.map((c) => c.map(({ address, peerId }) => ({ address, peerId }))),
        quarantined: [...quarantined],
      };
      open.journaled = this.events.journal.opened(opening);
      open.journaled.catch(() => undefined); // each report awaits it and fails with it
    }
    this.events.phase?.('open', round);
    // In slices of the loop (slices.ts): at 5,000 members one loop over them held it for ~0.5 s.
    const modelHash = this.state.modelHash;
    const seatsOf = cohorts.flatMap((members, id) => {
      const listed = members.map(({ address, peerId }) => ({ address, peerId }));
      return members.map((m) => ({ m, id, listed }));
    });
    void forEachInSlices(seatsOf, ({ m, id, listed }) =>
      this.sessions.get(m.sessionId)?.send({
        type: 'round',
        run: this.run.id,
        round,
        modelHash,
        cohort: { id, members: listed },
        // Each member its own shard order, derived from public values so a validator can redo it.
        seed: assignmentSeed(this.run.seed, round, m.address),
        steps: this.run.inner.steps,
        startsAt,
        exchangeEndsAt: open.exchangeEndsAt,
        reportEndsAt: open.reportEndsAt,
        serverTime: this.now(),
      }),
    ).catch((e: Error) => console.error(`[round] sending round ${round}: ${e.message}`));
  }

  /** A round's state at its opening (maybeStartRound) or its resumption (resumeRound); its timer commits it at reportEndsAt. */
  private openRoundOf(round: number, cohorts: Member[][], quarantined: Set<number>, startsAt: number, exchangeEndsAt: number, reportEndsAt: number): OpenRound {
    // The round desk (round-desk.ts) takes the round's reports and aggregates from now on.
    this.combiner.deskOpen(
      round,
      cohorts.map((c) => c.map((m) => m.address)),
      quarantined,
    );
    return {
      round,
      cohorts,
      startsAt,
      exchangeEndsAt,
      reportEndsAt,
      reports: new Map(),
      seats: new Map(cohorts.flatMap((members, cohort) => members.map((m) => [m.address, cohort] as const))),
      namedBy: new Map(),
      awaiting: 0,
      aggregates: new Map(),
      unnamed: new Map(),
      uploadedBytes: new Map(),
      timer: setTimeout(() => void this.commit(), Math.max(0, reportEndsAt - this.now())),
      quarantined,
      relayed: new Set(),
      announced: new Set(),
      closedAt: null,
      decided: false,
      inFlight: new Set(),
      journaled: Promise.resolve(),
    };
  }

  /**
   * Takes over a round another engine opened and did not commit (cluster mode: its committer
   * died; coordinator/cluster/round-bus.ts reads the round back): its opening, and the reports
   * and aggregates that engine journaled, each acknowledged to its volunteer. The reports go
   * through the same checks as a live one (signature, seat, limits, frames root), each finding
   * the ledger row its first engine wrote (or writing it, when that engine died between the
   * journal and the ledger); the aggregates through the same upload check. The round then
   * stays open until its report deadline (volunteers that reconnect here may still report, and
   * a reconnected member's retry of a journaled report is a DUPLICATE) and commits through the
   * same decision, combine and ledger path as a round opened here; already past its deadline,
   * it commits at once. Reports re-enter in journal order, which is the order the first engine
   * accepted them up to reports written concurrently. Refused: a round that is not the one
   * this engine's model is at (round and θ_r hash), or any while a round is open here.
   */
  async resumeRound(
    opening: RoundOpening,
    reports: readonly JournaledReport[],
    aggregates: readonly { hash: Hex; bytes: Uint8Array }[],
  ): Promise<ResumedRound> {
    if (this.stopped) throw new IdlegradError('STALE_ROUND', 'this engine is stopped');
    if (this.open || this.committing) throw new IdlegradError('DUPLICATE', `round ${this.open?.round ?? this.round} is already open here`);
    if (opening.round !== this.state.round || opening.modelHash !== this.state.modelHash)
      throw new IdlegradError(
        'STALE_ROUND',
        `the resumed round ${opening.round} trains from ${opening.modelHash}; this engine's model is at round ${this.state.round}, ${this.state.modelHash}`,
      );
    const cohorts = opening.cohorts.map((c) => c.map((m) => ({ address: m.address.toLowerCase() as Address, peerId: m.peerId, sessionId: -1 })));
    const open = this.openRoundOf(opening.round, cohorts, new Set(opening.quarantined ?? []), opening.startsAt, opening.exchangeEndsAt, opening.reportEndsAt);
    clearTimeout(open.timer); // set again once what was journaled is back in
    this.open = open;
    this.resuming = true;
    this.events.phase?.('open', open.round);
    const refused: ResumedRound['refused'] = [];
    const refuse = (account: Address, nonce: string, e: unknown) =>
      refused.push({ account, nonce, code: (e as IdlegradError).code ?? 'INTERNAL', prose: (e as IdlegradError).shortMessage ?? String(e) });
    try {
      // Checked concurrently (signatures on the recovery thread, rows looked up in the ledger), then put back in journal order.
      const order = new Map(reports.map((r, i) => [r.account.toLowerCase() as Address, i]));
      await Promise.all(
        reports.map(async (r) => {
          try {
            if (r.round !== open.round) throw new IdlegradError('STALE_ROUND', `journaled for round ${r.round}, not ${open.round}`);
            if (r.receivedAt > open.reportEndsAt)
              throw new IdlegradError('STALE_ROUND', `received ${r.receivedAt - open.reportEndsAt} ms after round ${open.round}'s report deadline`);
            const address = r.account.toLowerCase() as Address;
            // The report's session key, from the certificate journaled with it (refused by name when missing, forged or never kept).
            const sessionKey = await recertifySession(this.certificateChecks(), address, r.certificate, Math.floor(r.receivedAt / 1000));
            const session: Session = { id: -1, address, peerId: '', ready: false, send: () => {}, sessionKey };
            await this.recordReport(session, r.message, r.receivedAt, null, true);
          } catch (e) {
            refuse(r.account, r.nonce, e);
          }
        }),
      );
      open.reports = new Map([...open.reports].sort((a, b) => (order.get(a[0]) ?? Infinity) - (order.get(b[0]) ?? Infinity)));
      // The desk's copy in journal order too (it took them as they were checked).
      feedDesk(open, {
        open: (...a) => this.combiner.deskOpen(...a),
        report: (round, reports) => reports.forEach((r) => this.combiner.deskReport(round, r)),
        aggregate: (...a) => this.combiner.deskAggregate(...a),
      });
      let admitted = 0;
      await Promise.all(
        aggregates.map(async (a) => {
          try {
            const hash = await this.admitAggregate(open, open.round, a.bytes, false);
            if (hash !== a.hash) throw new IdlegradError('BAD_FRAME', `journaled as ${a.hash}, its bytes hash to ${hash}`);
            admitted++;
          } catch (e) {
            refused.push({
              account: '0x' as Address,
              nonce: a.hash,
              code: (e as IdlegradError).code ?? 'INTERNAL',
              prose: (e as IdlegradError).shortMessage ?? String(e),
            });
          }
        }),
      );
      return { round: open.round, reports: open.reports.size, aggregates: admitted, refused };
    } finally {
      this.resuming = false;
      if (this.open === open && open.closedAt === null) {
        open.timer = setTimeout(() => void this.commit(), Math.max(0, open.reportEndsAt - this.now()));
        this.maybeCommitEarly();
      }
    }
  }

  /**
   * Validate and record a signed report. Every failure throws IdlegradError with a named
   * code before anything is written; a success writes one pending ledger row. A signed partner
   * the lead never registered is no refusal: the report is recorded and credited, the partner
   * is not, and `note` says so (the ack carries it to the page).
   * On time is judged at receipt: a report that arrives while its round is open counts even when
   * its signature check and ledger write finish after the round closed (the commit waits for it,
   * IN_FLIGHT_WAIT_MS at most); one that arrives after the round closed is refused STALE_ROUND.
   */
  handleReport(session: Session, msg: Extract<ClientMessage, { type: 'report' }>): Promise<{ id: number; note: string | null }> {
    const receivedAt = this.now();
    // The round that had already closed when this arrived, if one had: too late for it.
    const closed = this.open?.closedAt != null ? this.open : null;
    return this.track(this.recordReport(session, msg, receivedAt, closed));
  }

  /** `work`, received now, counted in flight for the open round unless that round already closed: its commit waits for it. */
  private track<T>(work: Promise<T>): Promise<T> {
    const open = this.open;
    if (open && open.closedAt === null) {
      open.inFlight.add(work);
      const done = () => void open.inFlight.delete(work);
      work.then(done, done);
    }
    return work;
  }

  /** The round `open`'s commit stopped waiting for what it had in flight: `what` (on time) can no longer count. */
  private stoppedWaiting(open: OpenRound, what: string): IdlegradError {
    return new IdlegradError(
      'STALE_ROUND',
      `round ${open.round} was decided before this ${what} was recorded: it arrived on time, and the commit waited ${this.inFlightWaitMs} ms for it`,
    );
  }

  private async recordReport(
    session: Session,
    msg: Extract<ClientMessage, { type: 'report' }>,
    receivedAt: number,
    closed: OpenRound | null,
    /** resumeRound: already journaled, and its ledger row may already be written. */
    resumed = false,
  ): Promise<{ id: number; note: string | null }> {
    const c = contributionFromJson(msg.contribution);
    const key = session.sessionKey;
    if (!key) throw new IdlegradError('BAD_SIGNATURE', `session of ${session.address} has no certified session key: its hello certified none`);
    if (key.expiry < BigInt(Math.floor(receivedAt / 1000)))
      throw new IdlegradError('EXPIRED', `session key expired at ${key.expiry}: reconnect to certify a new one`);
    await this.signers.verifySessionOn(this.recovery, c, key, msg.signature);
    const signer = session.address.toLowerCase() as Address;
    if (c.run !== this.run.id) throw new IdlegradError('WRONG_RUN', `report is for run ${c.run}; this coordinator trains run ${this.run.id}`);
    const open = this.open;
    if (!open || c.round !== open.round)
      throw new IdlegradError('STALE_ROUND', `report is for round ${c.round}; the open round is ${open ? open.round : 'none'}`);
    if (open === closed) throw new IdlegradError('STALE_ROUND', `report for round ${c.round} arrived after ${closedWhy(open, receivedAt)}`);
    if (open.decided) throw this.stoppedWaiting(open, 'report');
    if (c.expiry < BigInt(Math.floor(this.now() / 1000))) throw new IdlegradError('EXPIRED', `report expired at ${c.expiry}`);
    if (open.seats.get(signer) !== c.cohort) throw new IdlegradError('NOT_A_MEMBER', `${signer} is not a member of cohort ${c.cohort} in round ${c.round}`);
    if (c.samples > maxSamplesPerReport(this.run) || c.steps > this.run.inner.steps) {
      throw new IdlegradError(
        'LIMIT_EXCEEDED',
        `report claims ${c.samples} samples in ${c.steps} steps; the run allows ${maxSamplesPerReport(this.run)} in ${this.run.inner.steps}`,
      );
    }
    if (framesRoot(msg.frameHashes) !== c.framesRoot) throw new IdlegradError('BAD_MESSAGE', 'report.frameHashes does not hash to the signed framesRoot');
    if (open.reports.has(signer)) throw new IdlegradError('DUPLICATE', `${signer} already reported for round ${c.round}`);
    const registered = c.partner !== '' && (this.events.partnerRegistered?.(c.partner) ?? false);
    const note = c.partner !== '' && !registered ? `partner "${c.partner}" is not registered: this report earns it no partner credit` : null;
    const origin = { partner: registered ? c.partner : null, device: msg.device ?? session.device ?? null, certificate: key.digestHex };
    // Cluster mode: on the bus before the ledger row and the ack, so a successor finds what this acknowledges.
    if (!resumed && this.events.journal)
      await this.journaled(open, 'report', () =>
        this.events.journal!.report({ round: c.round, account: signer, nonce: c.nonce.toString(), receivedAt, message: msg, certificate: key.certified }),
      );
    const { id } = resumed
      ? await this.resumedRow(signer, c, msg.signature, origin)
      : await this.pending.record(this.run.id, signer, c, msg.signature, c.residualHash, Math.floor(this.now() / 1000), origin);
    if (this.open !== open || open.decided) {
      // The commit stopped waiting for it (IN_FLIGHT_WAIT_MS) and decided while we were writing: the row can never be accepted.
      const stale = this.stoppedWaiting(open, 'report');
      await this.ledger.reject(id, { code: 'STALE_ROUND', prose: stale.shortMessage });
      throw stale;
    }
    if (open.reports.has(signer)) {
      // A second session of the same key reported in the same round while this one was written.
      await this.ledger.reject(id, { code: 'DUPLICATE', prose: `${signer} already reported for round ${c.round}` });
      throw new IdlegradError('DUPLICATE', `${signer} already reported for round ${c.round}`);
    }
    const report: Report = {
      id,
      account: signer,
      cohort: c.cohort,
      frameHash: c.frameHash,
      aggregateHash: c.aggregateHash.toLowerCase() as Hex,
      frameHashes: msg.frameHashes,
      samples: c.samples,
      lossAfter: c.lossAfterMicro / 1e6,
      nonce: c.nonce.toString(),
    };
    open.reports.set(signer, report);
    this.combiner.deskReport(open.round, deskReportOf(report));
    const named = c.aggregateHash.toLowerCase() as Hex;
    open.namedBy.set(named, (open.namedBy.get(named) ?? 0) + 1);
    const waiting = open.unnamed.get(named);
    if (waiting) {
      // Uploaded before any report named it (so no earlier report awaits it).
      open.unnamed.delete(named);
      open.aggregates.set(named, waiting);
      this.combiner.deskAggregate(open.round, named, waiting);
    } else if (!open.aggregates.has(named)) open.awaiting++;
    this.maybeCommitEarly();
    return { id, note };
  }

  /** `put` on the journal once the round's opening is there; a failure is a named error and nothing of the report or upload is kept. */
  private async journaled(open: OpenRound, what: string, put: () => Promise<unknown>): Promise<void> {
    try {
      await open.journaled;
      await put();
    } catch (e) {
      throw new IdlegradError('INTERNAL', `the round bus did not store this ${what} (${(e as Error).message}); nothing was recorded: send it again`);
    }
  }

  /** A resumed report's ledger row: the one its first engine wrote, still pending, or a new one when that engine died before writing it. */
  private async resumedRow(signer: Address, c: ReturnType<typeof contributionFromJson>, signature: Hex, origin: ReportOrigin): Promise<{ id: number }> {
    const row = await this.ledger.contributionByNonce(signer, c.nonce);
    if (!row) return this.pending.record(this.run.id, signer, c, signature, c.residualHash, Math.floor(this.now() / 1000), origin);
    if (row.runId !== this.run.id || row.round !== c.round || row.state !== 'pending')
      throw new IdlegradError('DUPLICATE', `${signer}'s nonce ${c.nonce} is already row ${row.id} (run ${row.runId}, round ${row.round}, ${row.state})`);
    return { id: row.id };
  }

  /**
   * An uploaded cohort aggregate (or a relay member's own frame); resolves to its hash. Decoded,
   * checked and hashed on the upload thread (upload-thread.ts). On time like a report
   * (handleReport): judged at receipt, waited for by the commit.
   */
  handleAggregate(round: number, bytes: Uint8Array): Promise<Hex> {
    const open = this.open;
    if (!open || round !== open.round)
      return Promise.reject(new IdlegradError('STALE_ROUND', `aggregate is for round ${round}; the open round is ${open ? open.round : 'none'}`));
    if (open.closedAt !== null)
      return Promise.reject(new IdlegradError('STALE_ROUND', `aggregate for round ${round} arrived after ${closedWhy(open, this.now())}`));
    return this.track(this.admitAggregate(open, round, bytes));
  }

  /** A spot check's evidence upload's frame hash and residual commitment, hashed on the upload thread (coordinator/verify/evidence-desk.ts). */
  evidenceDigests(body: Uint8Array): Promise<EvidenceDigests> {
    return this.uploads.evidenceDigests(body);
  }

  private async admitAggregate(open: OpenRound, round: number, bytes: Uint8Array, journal = true): Promise<Hex> {
    const { hash, frame } = await this.uploads.check(round, bytes);
    if (journal && this.events.journal) await this.journaled(open, 'aggregate', () => this.events.journal!.aggregate(round, hash, bytes));
    if (this.open !== open || open.decided) throw this.stoppedWaiting(open, 'aggregate');
    if (open.aggregates.has(hash) || open.unnamed.has(hash)) return hash;
    const named = open.namedBy.get(hash);
    const keep = () => open.uploadedBytes.set(hash, bytes);
    if (named) {
      open.aggregates.set(hash, frame);
      this.combiner.deskAggregate(open.round, hash, frame);
      keep();
      open.awaiting -= named;
    } else {
      if (open.unnamed.size >= open.seats.size) {
        throw new IdlegradError(
          'LIMIT_EXCEEDED',
          `round ${round} already holds ${open.unnamed.size} aggregates no report names (one per seat); report first, then upload again`,
        );
      }
      open.unnamed.set(hash, frame);
      keep();
    }
    this.maybeCommitEarly();
    return hash;
  }

  /** The open round's cohort seating `address`, or a NOT_A_MEMBER / STALE_ROUND error. */
  private seatOf(address: Address, round: number, what: string): { open: OpenRound; cohort: number; members: Member[] } {
    const open = this.open;
    if (!open || round !== open.round || this.committing)
      throw new IdlegradError('STALE_ROUND', `${what} is for round ${round}; the open round is ${open && !this.committing ? open.round : 'none'}`);
    const cohort = open.seats.get(address);
    if (cohort === undefined) throw new IdlegradError('NOT_A_MEMBER', `${address} is not seated in round ${round}`);
    return { open, cohort, members: open.cohorts[cohort] };
  }

  /**
   * Relay (issue 16 item 2): a member's own frame for the cohort members it could not reach over
   * WebRTC, forwarded to them at once and never stored. One relay per member per round, each
   * frame checked under the round's peer-update limits. Returns how many members it reached.
   */
  handleRelay(session: Session, msg: Extract<ClientMessage, { type: 'relay' }>): number {
    const { open, cohort, members } = this.seatOf(session.address, msg.round, 'relay');
    const to = new Set(msg.to.map((a) => a.toLowerCase() as Address));
    const strangers = [...to].filter((a) => a === session.address || !members.some((m) => m.address === a));
    if (strangers.length) throw new IdlegradError('NOT_A_MEMBER', `relay to ${strangers.join(', ')}: not another member of cohort ${cohort}`);
    if (open.relayed.has(session.address)) throw new IdlegradError('DUPLICATE', `${session.address} already relayed its frame in round ${msg.round}`);
    const frame = decodeFrame(msg.frame, peerUpdateLimits(this.run, msg.round));
    if (frame.header.kind !== FrameKind.update) throw new IdlegradError('BAD_FRAME', `a relayed frame must be an update frame (kind ${FrameKind.update})`);
    open.relayed.add(session.address);
    this.seating.noteUnreached(session.address, to);
    let reached = 0;
    for (const m of members) {
      if (!to.has(m.address)) continue;
      const s = this.sessions.get(m.sessionId);
      if (!s) continue;
      s.send({ type: 'relayed-frame', round: msg.round, cohort, from: session.address, frame: msg.frame });
      reached++;
    }
    return reached;
  }

  /**
   * Agreement (DESIGN.md "Agreeing on a cohort's aggregate"): the uploader's announcement of the
   * frames inside the aggregate it uploaded, forwarded to every member of its cohort. The first
   * announcement per cohort stands; the aggregate must already be uploaded.
   */
  handleAnnounce(session: Session, msg: Extract<ClientMessage, { type: 'announce' }>): void {
    const { open, cohort, members } = this.seatOf(session.address, msg.round, 'announcement');
    if (open.announced.has(cohort)) throw new IdlegradError('DUPLICATE', `cohort ${cohort}'s frames were already announced in round ${msg.round}`);
    const hash = msg.aggregateHash.toLowerCase() as Hex;
    if (!open.aggregates.has(hash) && !open.unnamed.has(hash))
      throw new IdlegradError('NOT_FOUND', `announced aggregate ${hash} was not uploaded; upload it first`);
    open.announced.add(cohort);
    const m: ServerMessage = { type: 'announced', round: msg.round, cohort, from: session.address, aggregateHash: hash, frameHashes: msg.frameHashes };
    for (const member of members) if (member.address !== session.address) this.sessions.get(member.sessionId)?.send(m);
  }

  private maybeCommitEarly(): void {
    const open = this.open;
    if (!open || open.closedAt !== null || this.resuming) return;
    // Reports come only from seated members, one per account: as many reports as seats is everyone;
    // and every aggregate they voted for is uploaded when none awaits one (O(1) per report and upload).
    if (open.reports.size < open.seats.size || open.awaiting > 0) return;
    // Everyone is in; the round still waits for its training window to end (re-checked when the timer fires).
    const wait = commitAt(open, this.run, true) - this.now();
    if (wait <= 0) return void this.commit();
    clearTimeout(open.timer);
    open.timer = setTimeout(() => this.maybeCommitEarly(), wait);
  }

  /**
   * The round's decision, combine and verdicts on the round desk (round-desk.ts): on the first
   * aggregation thread, which the engine fed each report and admitted aggregate as it recorded them,
   * so the event loop walks no report here. When that thread cannot answer (it failed, or missed part
   * of the round), the same desk runs in place, fed from the round this engine holds.
   */
  private async decideOnDesk(open: OpenRound, clock: CommitClock): Promise<DeskVerdict> {
    const round = open.round;
    try {
      const { applied } = await clock.time(
        'decide',
        () => this.combiner.deskDecide(round),
        (r) => r.cpuMs,
      );
      return await clock.time(
        applied > 0 ? 'combine' : 'decide',
        () => this.combiner.deskCombine(round),
        (r) => r.cpuMs,
      );
    } catch (e) {
      console.error(`[combine] round desk: ${(e as Error).message}; deciding round ${round} on the event loop`);
      const desk = new RoundDesk(this.run);
      feedDesk(open, desk);
      const { applied } = await clock.time('decide', () => desk.decide(round));
      return clock.time(applied > 0 ? 'combine' : 'decide', () => desk.combine(round, inThread(this.run, round)));
    }
  }

  /**
   * Waits (IN_FLIGHT_WAIT_MS at most) for the reports and uploads that arrived before `open`
   * closed and are still being checked or written, then marks it decided: what finishes later is
   * refused. A loop held busy past the deadline, or a slow ledger batch, loses no on-time work.
   */
  private async settle(open: OpenRound): Promise<void> {
    const waitedFor = open.inFlight.size;
    if (waitedFor > 0) {
      const started = performance.now();
      let bound!: NodeJS.Timeout;
      await Promise.race([Promise.allSettled([...open.inFlight]), new Promise((r) => (bound = setTimeout(r, this.inFlightWaitMs)))]);
      clearTimeout(bound);
      this.events.settled?.({ round: open.round, waitedFor, waitedMs: performance.now() - started, leftOver: open.inFlight.size });
    }
    open.decided = true;
  }

  /** Decide the open round now; while a commit runs, that commit's promise. */
  commit(): Promise<void> {
    if (this.open && !this.committing) this.commitDone = this.commitOpen();
    return this.commitDone;
  }

  /** Decide the round: which aggregates count, the outer step, the ledger transaction. */
  private async commitOpen(): Promise<void> {
    const open = this.open;
    if (!open || this.committing) return;
    this.committing = true;
    clearTimeout(open.timer);
    open.closedAt = this.now();
    this.events.phase?.('committing', open.round);
    const clock = new CommitClock(open.round);
    try {
      await clock.time('settle', () => this.settle(open));
      const verdict = await this.decideOnDesk(open, clock);
      const { rejected } = verdict;
      // Combine cohort aggregates with the run's aggregator and apply the outer step. The model
      // carried over (copied at the end) only when nothing is applied: at gpt-small each copy is
      // 42 MiB, and the outer step makes its own.
      let next: ModelState | null = null;
      let update: Uint8Array | null = null;
      let residual = this.state.residual;
      /** The combine's groups, stored with the round for auditors (ledger round_combines, served at /api/runs/:id/rounds/:round/combine). */
      let groups: CombineGroup[] = [];
      let combineVersion: CombineVersion | undefined;
      if (verdict.combined) {
        const combined = verdict.combined.bytes;
        groups = verdict.combined.groups;
        combineVersion = verdict.combined.version;
        this.combineInputs.note(
          open.round,
          new Map(groups.flatMap((g) => (g.level === 1 ? g.inputs : [])).flatMap((h) => (open.uploadedBytes.has(h) ? [[h, open.uploadedBytes.get(h)!]] : []))),
        );
        if (this.run.globalUpdate === 'compressed') {
          // One frame down: the exact combine compressed with the coordinator's error feedback.
          const down = await clock.time('compress', () =>
            compressGlobalUpdate(this.run, open.round, combined, this.state.residual ?? new Float32Array(this.run.paramCount)),
          );
          update = down.bytes;
          residual = down.residual;
        } else update = combined;
        // Peers apply the published bytes with this same function; so do we, yielding the loop
        // between slices (the same bits: shared/round.ts APPLY_SLICE).
        const applying = update;
        const { round, modelHash, params, momentum } = await clock.time('apply', () =>
          applyGlobalUpdate({ ...this.state, run: this.run.id, paramTableHash: this.run.paramTableHash }, applying, this.run, yieldToLoop),
        );
        next = { round, modelHash, params, momentum, residual: residual === this.state.residual ? residual?.slice() : residual };
      }
      next ??= {
        round: open.round + 1,
        modelHash: this.state.modelHash,
        params: this.state.params.slice(),
        momentum: this.state.momentum.slice(),
        residual: residual?.slice(),
      };
      const evaluating = next.params;
      const evalResult = await clock.time(
        'evaluate',
        () => this.evaluator.evaluate(evaluating),
        (r) => r.cpuMs,
      );
      const summary: RoundSummary = {
        round: open.round,
        modelHash: next.modelHash,
        committedAt: this.now(),
        heldOutAccuracy: evalResult.accuracy,
        heldOutLoss: evalResult.loss,
        trainLoss: verdict.trainLoss,
        contributions: verdict.acceptedIds.length,
        samples: verdict.samples,
        volunteers: open.seats.size,
        updateBytes: update?.byteLength ?? 0,
      };
      const acceptedIds = Array.from(verdict.acceptedIds);
      // The ledger's rows, one per report by nature: built in the ledger's phase.
      await clock.time('ledger', () =>
        this.ledger.commitRound({
          runId: this.run.id,
          summary,
          state: next,
          update,
          accepted: acceptedIds.map((id, i) => ({ id, creditWei: creditWeiOf(verdict.acceptedSamples[i], this.run) })),
          rejected,
          vestsRound: vestsRoundOf(open.round, this.verification),
          groups,
          combineVersion,
        }),
      );
      this.events.decided?.(
        acceptedIds.length,
        rejected.map((r) => r.rejection.code),
      );
      // The ledger is the record; the bus's note only spares a successor reading a committed round back.
      this.events.journal?.committed(open.round, next.modelHash).catch((e: Error) => console.error(`[journal] round ${open.round} committed: ${e.message}`));
      const published = this.published.noteUpdate(open.round, update);
      const thetaR = this.state.params;
      this.state = next;
      this.open = null;
      // The snapshot the pages' /sync will ask for, built now with the loop yielded between slices of its hash.
      await clock.time('prepare', () => this.published.prepare(yieldToLoop));
      const verify = this.events.verify;
      if (verify && acceptedIds.length) {
        await clock.time('verify', () =>
          verify(open.round, thetaR, acceptedIds).catch((e) => console.error(`[validator] sampling round ${open.round}: ${(e as Error).message}`)),
        );
      }
      // Verdicts to members, the committed notice to every session, the platform's listeners.
      await clock.time('broadcast', async () => {
        // Each member hears its report's verdict before the round's end: a page whose refused
        // contribution's update would otherwise be lost gives it back to its residual.
        const verdicts = new Map<number, string | null>([
          ...acceptedIds.map((id) => [id, null] as const),
          ...rejected.map((r) => [r.id, r.rejection.prose] as const),
        ]);
        const newest = new Map<Address, Session>();
        for (const s of this.sessions.values()) if (s.address) newest.set(s.address, s);
        // In slices of the loop (slices.ts), acks first, then the notice.
        await forEachInSlices([...open.reports.values()], (r) => {
          const verdict = verdicts.get(r.id);
          if (verdict !== undefined)
            newest.get(r.account)?.send({ type: 'ack', nonce: r.nonce, state: verdict === null ? 'accepted' : 'rejected', reason: verdict });
        });
        const msg: ServerMessage = {
          type: 'committed',
          run: this.run.id,
          round: open.round,
          modelHash: next.modelHash,
          updateBytes: summary.updateBytes,
          updateHash: published?.hash ?? null,
          accepted: acceptedIds.length,
          serverTime: this.now(),
        };
        await forEachInSlices([...this.sessions.values()], (s) => s.send(msg));
        this.events.committed(summary);
        this.events.accountsChanged([...new Set([...open.reports.values()].map((r) => r.account))]);
      });
    } finally {
      this.events.commitPhases?.(clock.finish());
      this.committing = false;
      this.events.phase?.(this.open === open ? 'open' : 'idle', open.round);
    }
    setImmediate(() => this.maybeStartRound());
  }
}
