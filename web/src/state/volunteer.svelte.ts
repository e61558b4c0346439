// Reactive view of the volunteer client for the Svelte components. The client owns all
// behaviour; this class mirrors its snapshot into $state and derives display values.
import { GpuTrainer, type Trainer } from '../client/trainer.ts';
import { openStorage, type ClientStorage } from '../client/storage.ts';
import { VolunteerClient, type DutyPreset, type VolunteerSnapshot } from '../client/volunteer.ts';
import type { WeeklySchedule } from '../client/storage.ts';
import { watchEnvironment } from './environment.ts';
import type { IdleWatcher } from './idle.ts';
import { formatWei } from '../client/format.ts';
import { discoverWallets } from '../client/wallet/wallets.ts';

export class VolunteerStore {
  s: VolunteerSnapshot = $state.raw(undefined as unknown as VolunteerSnapshot);

  constructor(readonly client: VolunteerClient) {
    this.s = client.snapshot();
    client.subscribe((snap) => (this.s = snap));
    if (typeof window !== 'undefined') {
      watchEnvironment(client);
      discoverWallets(window, (list) => client.wallets.setFound(list));
      if (this.s.governance.idleOnly) void this.watchIdle(false);
    }
  }

  get running(): boolean {
    return this.s.state === 'running' || this.s.state === 'starting' || this.s.state === 'stopping';
  }

  get canStart(): boolean {
    return this.s.address !== null && !this.running;
  }

  /** The token's symbol from its contract ('tokens' until read). */
  get tokenSymbol(): string {
    return this.s.token?.symbol ?? 'tokens';
  }

  /** An amount in the token's base units, with the token's own decimals. */
  amount = (wei: string | bigint | null | undefined): string => formatWei(wei, 4, this.s.token?.decimals);

  get creditTokens(): string {
    return this.amount(this.s.account?.creditWei ?? '0');
  }

  /** Wei not yet claimed from the latest posted epoch (cumulative − claimed): the delegated wallet's leaf when there is one. */
  get claimableWei(): bigint {
    const a = this.s.account?.wallet ? this.s.wallets.account : this.s.account;
    if (!a?.claimable) return 0n;
    const rest = BigInt(a.claimable.cumulativeWei) - BigInt(a.claimedWei || '0');
    return rest > 0n ? rest : 0n;
  }

  get claimableTokens(): string {
    return this.amount(this.claimableWei);
  }

  get canClaim(): boolean {
    return this.claimableWei > 0n && !this.s.claim.busy;
  }

  private idle: Promise<IdleWatcher> | null = null;

  /** Starts the idle watcher (idle.ts, loaded on first use); `ask`: from a click, the browser may prompt. */
  private async watchIdle(ask: boolean): Promise<void> {
    this.idle ??= import('./idle.ts').then((m) => new m.IdleWatcher(this.client));
    await (await this.idle).start(ask);
  }

  setPreset = (p: DutyPreset) => this.client.setPreset(p);
  setIdleAfter = (seconds: number) => {
    this.client.setIdleAfter(seconds);
    void this.idle?.then((w) => w.restart());
  };

  /** From the volunteer's click: the browser may ask for the Idle Detection permission. */
  setIdleOnly = (on: boolean) => {
    this.client.setIdleOnly(on);
    if (on) void this.watchIdle(true);
    else void this.idle?.then((w) => w.stop());
  };
  /** The browser has the Idle Detection API (it may still need the volunteer's permission). */
  readonly idleDetection = typeof window !== 'undefined' && 'IdleDetector' in window;
  /** Asks again for the Idle Detection API (the volunteer's click). */
  useSystemIdle = () => void this.watchIdle(true);
  setChargingOnly = (on: boolean) => this.client.setRule({ chargingOnly: on });
  setSchedule = (s: WeeklySchedule | null) => this.client.setSchedule(s);
  snooze = (ms: number | 'tomorrow' | null) => this.client.snooze(ms);
  setPauseWhenHidden = (on: boolean) => this.client.setRule({ pauseWhenHidden: on });
  setBatteryMin = (level: number) => this.client.setBatteryMin(level);
  setFollowPressure = (on: boolean) => this.client.setRule({ followPressure: on });
  measure = () => this.client.profileDevice();
  bindWallet = (uuid: string) => this.client.wallets.bind(uuid);
  bindWalletConnect = () => this.client.wallets.bindWalletConnect();
  consent = () => this.client.consent();
  revoke = () => this.client.revokeConsent();
  start = () => this.client.start();
  stop = () => this.client.stop();
  claim = () => this.client.wallets.claim();
  verifyReward = () => this.client.wallets.verifyReward();
  watchToken = () => this.client.wallets.watchToken();
}

/** What a page entry may add: e2e/page/ passes its test hook and, for attacking pages, a decorated trainer. */
export interface PageHooks {
  createTrainer?: () => Trainer;
  onClient?: (client: VolunteerClient) => void;
}

/** Opens storage and creates the client; computes and connects nothing. */
export async function createVolunteerStore(
  opts: PageHooks & { partner?: string | null; storage?: ClientStorage; surface?: 'app' | 'widget'; run?: number | null } = {},
): Promise<VolunteerStore> {
  const storage = opts.storage ?? (await openStorage());
  const client = await VolunteerClient.create({
    origin: location.origin,
    storage,
    createTrainer: opts.createTrainer ?? (() => new GpuTrainer()),
    partner: opts.partner ?? null,
    surface: opts.surface ?? 'app',
    run: opts.run ?? null,
  });
  opts.onClient?.(client);
  return new VolunteerStore(client);
}
