// The volunteer client: a façade over modules with one job each, UI-free. It publishes an
// immutable VolunteerSnapshot (snapshot.ts) and takes the page's commands (consent, start,
// stop, governance, wallets, claim). What lives where:
//   session.ts             coordinator socket, hello/welcome, reconnects, the lending lifecycle
//   device.ts              the trainer (GPU or CPU), its data, the one-trainer lock, the device profile
//   governance.ts          GPU budget and pause rules → the trainer's throttle
//   round/round-runner.ts  one round, DESIGN steps 2–6, and the evidence it keeps
//   outbox.ts              signed reports kept until the coordinator answers
//   p2p/                   the cohort exchange and its PeerJS transport
//   wallet/                bind, claim, verify-reward (one action per file), EIP-6963, WalletConnect
import type { Hex } from 'viem';
import type { AccountSummary, ServerMessage } from '../../../shared/wire/index.ts';
import type { RunSpec } from '../../../shared/config.ts';
import { isIdlegradError } from '../../../shared/errors.ts';
import { CoordinatorApi } from './api.ts';
import { ChainSource } from './chain-info.ts';
import { ServerClock, clockScheduler } from './clock.ts';
import { Consent } from './consent.ts';
import type { DeviceKey } from './device-key.ts';
import type { KeyBackup } from './key-backup.ts';
import { DeviceHost } from './device.ts';
import { describeError } from './errors.ts';
import type { ContributionEstimate } from './estimate.ts';
import { DEFAULT_GOVERNANCE, validSettings, type DutyPreset, type Governance } from './governance.ts';
import { Governor } from './governor.ts';
import { ModelSync } from './local-model.ts';
import { Outbox } from './outbox.ts';
import type { PeerTimeouts } from './p2p/exchange.ts';
import { RoundRunner, type RoundMessage } from './round/round-runner.ts';
import { Session, type Lifecycle, type Welcome } from './session.ts';
import { SnapshotStore, initialSnapshot, runSummaryOf, type LogLevel, type VolunteerSnapshot } from './snapshot.ts';
import type { ClientStorage, WeeklySchedule } from './storage.ts';
import type { Trainer } from './trainer.ts';
import { WalletActions } from './wallet/index.ts';

export type { ClientState, DeviceProfile, LogEntry, LogLevel, RewardCheck, RoundPhase, VolunteerSnapshot } from './snapshot.ts';
export {
  DEFAULT_SETTINGS,
  DUTY_PRESETS,
  SOFTWARE_ADAPTER,
  pauseReasons,
  pressureApplies,
  type DutyPreset,
  type Governance,
  type PauseReason,
  type PressureState,
} from './governance.ts';
export { TRAINER_LOCK } from './device.ts';
export { CONSENT_TTL_MS, CONSENT_VERSION } from './consent.ts';

export interface VolunteerOptions {
  /** The coordinator's origin (this page's, e.g. location.origin). */
  origin: string;
  storage: ClientStorage;
  /** The trainer (GpuTrainer in the page); tests pass fakes or decorators (e2e/page's attacker). */
  createTrainer: () => Trainer;
  /** Page location, for the PeerServer host and port. */
  location?: Pick<Location, 'hostname' | 'port' | 'protocol'>;
  partner?: string | null;
  /** Where the page runs: sets the consent lifetime (default 'app'). */
  surface?: 'app' | 'widget';
  /** The run this page was asked to join (the widget's run="…"); a coordinator training another is refused. */
  run?: number | null;
  /** Web Locks (navigator.locks by default); null where the browser has none. */
  locks?: LockManager | null;
  /** Whether this page has navigator.gpu (default: looked up); without it the worker trains on the CPU. */
  hasWebGpu?: boolean;
  now?: () => number;
  peerTimeouts?: Partial<PeerTimeouts>;
  maxLogEntries?: number;
}

export class VolunteerClient {
  private readonly api: CoordinatorApi;
  private readonly clock = new ServerClock();
  private readonly store: SnapshotStore;
  private readonly models: ModelSync;
  private readonly governor: Governor;
  private readonly device: DeviceHost;
  private readonly session: Session;
  private readonly outbox: Outbox;
  private readonly rounds: RoundRunner;
  private readonly now: () => number;
  private lifecycle: Lifecycle = { kind: 'idle' };
  private key: DeviceKey | null = null;
  /** The run of the last welcome (kept across reconnects: a new run resets the residual). */
  private joined: RunSpec | null = null;
  private readonly chainInfo: ChainSource;
  private readonly consentGiven: Consent;

  private constructor(private readonly o: VolunteerOptions) {
    this.api = new CoordinatorApi(o.origin);
    this.chainInfo = new ChainSource(() => this.api.run());
    this.now = o.now ?? Date.now;
    this.store = new SnapshotStore(initialSnapshot({ storage: o.storage, partner: o.partner ?? null, governance: DEFAULT_GOVERNANCE }), o.maxLogEntries);
    const { store } = this;
    this.models = new ModelSync({ api: this.api, storage: o.storage, log: store.log });
    this.governor = new Governor(store, o.storage, (t) => this.device.trainer?.setThrottle(t));
    this.device = new DeviceHost({ ...o, api: this.api, store, governor: this.governor, onLost: (reason, message) => this.onDeviceLost(reason, message) });
    this.session = new Session({
      origin: o.origin,
      location: o.location,
      store,
      clock: this.clock,
      key: () => this.key,
      partner: o.partner ?? null,
      onWelcome: (w, first) => this.join(w, first),
      wantsConnection: () => this.lending || store.get().outbox > 0,
      handlers: {
        round: (m) => this.onRound(m),
        committed: (m) => void this.onCommitted(m),
        ack: (m) => void (this.rounds.settled(m), this.outbox.acked(m)),
        error: (m) => this.onCoordinatorError(m),
        account: (m) => this.onAccount(m.summary),
        verify: (m) => void this.rounds.answerVerify(m),
        'relayed-frame': (m) => this.rounds.receive(m),
        announced: (m) => this.rounds.receive(m),
      },
    });
    this.consentGiven = new Consent(store, o.storage, o.surface ?? 'app', this.now);
    this.wallets = new WalletActions(
      store,
      () =>
        this.key && {
          api: this.api,
          store,
          origin: o.origin,
          now: this.now,
          key: this.key,
          storage: o.storage,
          chain: () => this.chainInfo.get(),
          refreshAccount: () => this.refreshAccount(),
        },
      {
        ensure: () => this.session.ensure(),
        send: (m) => this.session.send(m),
      },
    );
    const session = this.session;
    this.outbox = new Outbox({ storage: o.storage, api: this.api, store, send: (report) => session.send(report), resign: (r) => session.resign(r) });
    this.rounds = new RoundRunner({
      store,
      account: () => this.key?.account ?? null,
      peerId: () => this.session.peerId,
      trainer: () => this.device.trainer,
      chain: () => this.chainInfo.known,
      syncModel: (round, hash) =>
        this.models
          .ensure(round, hash)
          .then((m) => m.params)
          .finally(() => this.publishModel()),
      prepared: () => (this.lifecycle.kind === 'preparing' ? this.lifecycle.done : Promise.resolve()),
      lending: () => this.lending,
      scheduler: clockScheduler(this.clock),
      dial: (peerId) => this.session.dial(peerId),
      route: (ex) => this.session.route(ex),
      api: this.api,
      storage: o.storage,
      report: (rec) => this.outbox.add(rec),
      signReport: (domain, c) => session.sessionKeys.signReport(domain, c),
      device: () => (store.get().gpu.device === 'cpu' ? 'cpu' : 'webgpu'),
      partner: o.partner ?? null,
      now: this.now,
      send: (m) => this.session.send(m),
      peerTimeouts: o.peerTimeouts,
    });
  }

  /** Loads consent and the device key if they exist; computes and connects nothing. */
  static async create(o: VolunteerOptions): Promise<VolunteerClient> {
    const c = new VolunteerClient(o);
    const { store } = c;
    if (!o.storage.persistent && o.storage.reason) c.log('warn', o.storage.reason);
    try {
      const saved = await o.storage.getSettings();
      if (saved) c.governor.update(validSettings(saved));
    } catch (e) {
      c.log('warn', `could not read your saved settings: ${describeError(e)}`);
    }
    try {
      c.key = await c.consentGiven.load();
      if (c.key) c.afterKey();
      // Reports signed before a reload or a lost connection: deliver them (no compute involved).
      if (c.key) {
        const pending = await o.storage.listOutbox().catch(() => []);
        store.set({ outbox: pending.length });
        if (pending.length) {
          c.log('info', `${pending.length} signed report(s) from an earlier session are waiting to be delivered`);
          void c.session.connect();
        }
      }
    } catch (e) {
      c.log('error', `could not read stored consent or key: ${describeError(e)}`);
      store.set({ state: 'needs-consent' });
    }
    // Before consent, in the full app only (not a partner's widget): does the run fit this GPU? No device, no compute, no session.
    if (store.get().state === 'needs-consent' && (o.surface ?? 'app') === 'app') void c.device.checkFit();
    return c;
  }

  // ---- public surface -----------------------------------------------------------------

  snapshot(): VolunteerSnapshot {
    return this.store.get();
  }

  subscribe(fn: (s: VolunteerSnapshot) => void): () => void {
    return this.store.subscribe(fn);
  }

  log(level: LogLevel, text: string): void {
    this.store.log(level, text);
  }

  private get lending(): boolean {
    return this.lifecycle.kind === 'starting' || this.lifecycle.kind === 'preparing' || this.lifecycle.kind === 'lending';
  }

  /** The explicit opt-in: records consent with its time and creates the device key. */
  async consent(): Promise<void> {
    if (this.key && this.consentGiven.valid()) return;
    const key = await this.consentGiven.grant();
    if (!key) return;
    this.key = key;
    this.afterKey();
  }

  /** With a key: its account, the platform's wallet settings and token, the last claim. */
  private afterKey(): void {
    void this.refreshAccount();
    this.chainInfo.get().then(
      (chain) => this.wallets.onChain(chain, true),
      (e: unknown) => this.log('warn', `could not read the platform's chain settings: ${describeError(e)}`),
    );
  }

  /** Revoke the opt-in in one click: stops, forgets the consent; the key and credit stay. */
  async revokeConsent(): Promise<void> {
    await this.stop();
    await this.consentGiven.revoke();
  }

  /** Lend the GPU: acquire it, connect, and take rounds until stop(). */
  async start(): Promise<void> {
    const { store } = this;
    if (!this.key || !this.consentGiven.valid()) {
      if (this.key) this.consentGiven.lapsed();
      this.log('error', 'consent first: nothing runs before you opt in');
      return;
    }
    if (this.lending || this.lifecycle.kind === 'disposed') return;
    if (!(await this.device.takeLock())) return;
    this.lifecycle = { kind: 'starting' };
    store.set({ state: 'starting' });
    try {
      await this.device.ensure();
    } catch (e) {
      this.lifecycle = { kind: 'idle' };
      this.device.dropLock();
      store.set({ state: 'error' });
      this.log('error', describeError(e));
      return;
    }
    if (this.lifecycle.kind !== 'starting') return;
    const c = this.session.connection;
    if (this.session.open && c.kind === 'welcomed') {
      if (!c.prepared) return this.join(c.welcome, false);
      this.lifecycle = { kind: 'lending' };
      this.session.send({ type: 'start' });
      store.set({ state: 'running', phase: 'waiting' });
      this.log('info', 'resumed');
      return;
    }
    await this.session.connect();
  }

  /**
   * Stop lending, in one click: no new GPU work starts and the round in flight is aborted
   * between two GPU segments (≤ one segment, ~150 ms of GPU work); its result is dropped.
   */
  async stop(): Promise<void> {
    const { store } = this;
    if (!this.lending && store.get().state !== 'starting') return;
    const clickedAt = this.now();
    this.lifecycle = { kind: 'idle' };
    this.session.send({ type: 'stop' });
    const trainer = this.device.trainer;
    if (this.rounds.training && trainer) {
      store.set({ state: 'stopping' });
      try {
        const r = await trainer.abort();
        if (r) {
          store.set({ lastStop: { clickedAt, ...r } });
          this.log(
            'info',
            `stopped: ${store.get().gpu.device === 'cpu' ? 'CPU' : 'GPU'} work ended ${Math.round(r.idleAt - r.requestedAt)} ms after the request (${r.stepsDone} steps done; the round's result is dropped)`,
          );
        }
      } catch (e) {
        this.log('warn', `stopping the worker: ${describeError(e)}`);
      }
    } else {
      this.log('info', 'stopped');
    }
    if (this.lending) return; // Start was pressed again meanwhile
    this.device.dropLock();
    store.set({ state: 'stopped', phase: store.get().phase === 'training' ? 'idle' : store.get().phase });
  }

  // Governance (governance.ts): each applies from the trainer's next GPU segment.
  setPreset = (preset: DutyPreset) => this.governor.setPreset(preset);
  setIdleOnly = (on: boolean) => this.governor.setIdleOnly(on);
  setIdleAfter = (seconds: number) => this.governor.setIdleAfter(seconds);
  setBatteryMin = (level: number) => this.governor.setBatteryMin(level);
  setUserActive = (active: boolean) => this.governor.setUserActive(active);
  /** The on/off rules: pause while hidden, follow CPU pressure, only while charging. */
  setRule = (rule: Partial<Pick<Governance, 'pauseWhenHidden' | 'followPressure' | 'chargingOnly'>>) => this.governor.update(rule);
  setSchedule = (schedule: WeeklySchedule | null) => this.governor.setSchedule(schedule);
  snooze = (ms: number | 'tomorrow' | null) => this.governor.snooze(ms); // null ends it
  /** From the page: visibility (and the widget host's wish), what measures idleness, the Battery Status API, the Compute Pressure API. */
  setEnvironment = (env: Partial<Pick<Governance, 'hidden' | 'hostVisibleOnly' | 'idleSource' | 'battery' | 'pressure'>>) => this.governor.update(env);

  /** The device profile before joining (device.ts): measured speed, limits, the estimate. */
  profileDevice(): Promise<ContributionEstimate | null> {
    return this.device.profile();
  }

  /** The network is back: deliver the outbox now rather than at the next backoff step. */
  deliverOutbox(): void {
    if (this.lifecycle.kind === 'disposed' || !this.key || this.store.get().outbox === 0) return;
    if (this.session.welcome) void this.outbox.flush();
    else this.session.reconnectNow();
  }

  // ---- wallets and rewards (wallet/), the key's backup -------------------------------------

  /** Bind (EIP-6963 or WalletConnect), claim, verify the reward, add the token (wallet/index.ts); nothing before a key exists. */
  readonly wallets: WalletActions;

  /** The device key's backup (key-backup.ts, on demand): export, read a file, adopt its key once confirmed; the session then says hello as it. */
  keyBackup = async (): Promise<KeyBackup> =>
    new (await import('./key-backup.ts')).KeyBackup({
      ...{ key: () => this.key, api: this.api, storage: this.o.storage, store: this.store, now: this.now, stop: () => this.stop() },
      adopt: (key) => ((this.key = key), this.session.signOut(), this.refreshAccount()),
    });

  dispose(): void {
    this.lifecycle = { kind: 'disposed' };
    this.governor.dispose();
    this.rounds.dispose();
    this.session.dispose();
    this.device.dispose();
  }

  // ---- account ------------------------------------------------------------------------

  private async refreshAccount(): Promise<void> {
    if (!this.key) return;
    try {
      this.onAccount(await this.api.account(this.key.account.address));
    } catch (e) {
      // A fresh key has no account yet: that is not an error worth alarming anyone about.
      this.log(isIdlegradError(e, 'NOT_FOUND') ? 'info' : 'warn', `account: ${describeError(e)}`);
    }
  }

  /** The device's summary; with a delegated wallet, also the wallet's (its leaf is what gets claimed). */
  private onAccount(summary: AccountSummary): void {
    const { store } = this;
    store.set({ account: summary });
    const wallet = summary.wallet;
    if (!wallet) {
      if (store.get().wallets.account) store.set({ wallets: { ...store.get().wallets, account: null } });
      return;
    }
    this.api.account(wallet).then(
      (w) => store.set({ wallets: { ...store.get().wallets, account: w } }),
      (e: unknown) => this.log('warn', `wallet account: ${describeError(e)}`),
    );
  }

  // ---- the run ------------------------------------------------------------------------

  private onDeviceLost(reason: string, message: string): void {
    if (this.lifecycle.kind === 'disposed') return;
    const { store } = this;
    store.set({ gpu: { ...store.get().gpu, status: 'lost', device: null, message: `GPU device lost (${reason}): ${message}. Press Start to try again.` } });
    this.log('error', `GPU device lost (${reason}): ${message}`);
    if (this.lending) {
      this.lifecycle = { kind: 'idle' };
      this.session.send({ type: 'stop' });
    }
    store.set({ state: 'error', phase: 'idle' });
  }

  private onCoordinatorError(m: Extract<ServerMessage, { type: 'error' }>): void {
    if (this.outbox.owns(m.ref)) {
      void this.outbox.refused(m.ref, m.code, m.message);
      return;
    }
    this.log('error', `coordinator: [${m.code}] ${m.message}${m.ref ? ` (${m.ref})` : ''}`);
    this.wallets.refuse(`[${m.code}] ${m.message}`);
  }

  /** Joined (or re-joined) a run: deliver the outbox; while lending, prepare and take rounds. */
  private async join(w: Welcome, first: boolean): Promise<void> {
    const { store } = this;
    const { run } = w;
    if (this.o.run != null && run.id !== this.o.run) {
      this.log('error', `this widget asks for run ${this.o.run}, but the platform trains run ${run.id} "${run.name}": nothing is trained`);
      this.lifecycle = { kind: 'idle' };
      this.device.dropLock();
      store.set({ state: 'error', phase: 'idle' });
      return;
    }
    const runChanged = this.joined?.id !== run.id || this.joined.paramTableHash !== run.paramTableHash;
    this.joined = run;
    this.chainInfo.learn(w.chain);
    this.wallets.onChain(w.chain, false);
    store.set({ run: runSummaryOf(run), round: w.round });
    if (first) {
      this.log('info', `joined run ${run.id} "${run.name}" at round ${w.round}`);
      await this.outbox.flush();
    }
    // Connected only to deliver the outbox: no GPU work until Start.
    if (!this.lending) return;
    if (this.lifecycle.kind === 'preparing' && this.lifecycle.welcome === w) return; // Start while this welcome's outbox was delivered
    const done = this.prepare(w, runChanged);
    this.lifecycle = { kind: 'preparing', welcome: w, done };
    try {
      await done;
    } catch (e) {
      this.log('error', `preparing for the run failed: ${describeError(e)}`);
      if (this.lifecycle.kind === 'preparing') this.lifecycle = { kind: 'idle' };
      store.set({ state: 'error', phase: 'idle' });
      return;
    }
    const c = this.session.connection;
    if (c.kind === 'welcomed' && c.welcome === w) c.prepared = true;
    if (this.lifecycle.kind !== 'preparing') return; // stopped meanwhile
    this.lifecycle = { kind: 'lending' };
    this.session.send({ type: 'start' });
    store.set({ state: 'running', phase: 'waiting' });
  }

  /** The run's trainer shape, training set, residual and θ_round. */
  private async prepare(w: Welcome, runChanged: boolean): Promise<void> {
    const { run } = w;
    this.store.set({ phase: 'syncing' });
    await this.device.prepareFor(run);
    await this.rounds.loadResidual(run, runChanged);
    await this.models.setRun(run);
    try {
      await this.models.ensure(w.round, w.modelHash);
    } catch (e) {
      // The next round message retries; a coordinator mid-commit can serve an older snapshot.
      this.log('warn', `model not synced yet: ${describeError(e)}`);
    }
    this.publishModel();
    this.store.set({ phase: 'waiting' });
  }

  private publishModel(): void {
    const m = this.models.current;
    this.store.set({ model: m ? { round: m.round, hash: m.modelHash } : null });
  }

  private async onCommitted({ run, round, modelHash, updateHash, accepted }: Extract<ServerMessage, { type: 'committed' }>): Promise<void> {
    if (this.joined?.id !== run) return;
    this.log('info', `round ${round} committed: ${accepted} contribution(s) accepted, model ${modelHash.slice(0, 10)}…`);
    // Epoch pushes go to the beneficiary's sessions: with a delegated wallet, ask for ours.
    if (this.store.get().account?.wallet) for (const ms of [1_500, 6_000]) setTimeout(() => void this.refreshAccount(), ms);
    if (this.lifecycle.kind === 'preparing') await this.lifecycle.done.catch(() => undefined);
    try {
      await this.models.committed(round, modelHash, updateHash);
    } catch (e) {
      this.log('error', `applying the round ${round} update failed: ${describeError(e)}`);
    }
    this.publishModel();
  }

  private onRound(m: RoundMessage): void {
    const run = this.joined;
    this.store.set({ round: m.round });
    if (!run || m.run !== run.id) {
      this.log('error', `round ${m.round} is for run ${m.run}, but this page joined run ${run?.id ?? 'none'}`);
      return;
    }
    if (!this.lending) {
      this.log('info', `round ${m.round} assigned while stopped: skipped`);
      return;
    }
    if (!this.consentGiven.valid()) {
      this.log('warn', 'your opt-in expired: stopping; opt in again to go on');
      void this.stop().then(() => this.consentGiven.lapsed());
      return;
    }
    void this.rounds.begin(m, run);
  }
}
