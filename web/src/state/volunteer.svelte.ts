// Reactive view of the volunteer client for the Svelte components. The client owns all
// behaviour; this class mirrors its snapshot into $state and derives display values.
import { GpuTrainer, type Trainer } from '../client/trainer.ts';
import { openStorage, type ClientStorage } from '../client/storage.ts';
import { VolunteerClient, type DutyPreset, type PressureState, type VolunteerSnapshot } from '../client/volunteer.ts';
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
      if (this.s.governance.idleOnly) this.watchActivity();
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

  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private watching = false;

  setPreset = (p: DutyPreset) => this.client.setPreset(p);
  setIdleAfter = (seconds: number) => this.client.setIdleAfter(seconds);

  setIdleOnly = (on: boolean) => {
    this.client.setIdleOnly(on);
    if (on) this.watchActivity();
  };

  /** Input on this page counts as activity (the Idle Detection API needs a permission prompt). */
  private watchActivity(): void {
    if (this.watching || typeof window === 'undefined') return;
    this.watching = true;
    const active = () => {
      if (!this.s.governance.idleOnly) return;
      this.client.setUserActive(true);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = setTimeout(() => this.client.setUserActive(false), this.s.governance.idleAfterS * 1000);
    };
    for (const ev of ['pointermove', 'pointerdown', 'keydown', 'wheel', 'touchstart']) addEventListener(ev, active, { passive: true });
  }

  setPauseWhenHidden = (on: boolean) => this.client.setPauseWhenHidden(on);
  setBatteryMin = (level: number) => this.client.setBatteryMin(level);
  setFollowPressure = (on: boolean) => this.client.setFollowPressure(on);
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

interface BatteryLike extends EventTarget {
  level: number;
  charging: boolean;
}
interface PressureRecordLike {
  state: PressureState;
}
type PressureObserverCtor = new (cb: (records: PressureRecordLike[]) => void) => { observe(source: 'cpu'): Promise<void> };

/**
 * Feeds the client what the browser says about the machine, where it says it: tab visibility,
 * the Battery Status API (navigator.getBattery) and the Compute Pressure API (PressureObserver).
 * Reading these computes nothing; they only pause or slow the trainer.
 */
function watchEnvironment(client: VolunteerClient): void {
  const visibility = () => client.setEnvironment({ hidden: document.visibilityState === 'hidden' });
  document.addEventListener('visibilitychange', visibility);
  visibility();
  const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
  if (typeof nav.getBattery === 'function') {
    nav.getBattery().then(
      (b) => {
        const read = () => client.setEnvironment({ battery: { level: b.level, charging: b.charging } });
        b.addEventListener('levelchange', read);
        b.addEventListener('chargingchange', read);
        read();
      },
      (e: unknown) => client.log('info', `battery status unavailable: ${e instanceof Error ? e.message : String(e)}`),
    );
  }
  const PO = (globalThis as { PressureObserver?: PressureObserverCtor }).PressureObserver;
  if (typeof PO === 'function') {
    try {
      const po = new PO((records) => {
        const last = records.at(-1);
        if (last) client.setEnvironment({ pressure: last.state });
      });
      po.observe('cpu').catch((e: unknown) => client.log('info', `compute pressure unavailable: ${e instanceof Error ? e.message : String(e)}`));
    } catch (e) {
      client.log('info', `compute pressure unavailable: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
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
