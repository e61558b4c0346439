// Consent: the explicit opt-in, with a bounded lifetime (30 days in the app, 24 hours in a
// partner's widget), revoked in one click; the device key is created on the first opt-in.
import { loadDeviceKey, loadOrCreateDeviceKey, type DeviceKey } from './device-key.ts';
import { describeError } from './errors.ts';
import type { SnapshotStore } from './snapshot.ts';
import type { ClientStorage } from './storage.ts';

/** Bumped when what the volunteer agrees to changes. */
export const CONSENT_VERSION = 1;
/** How long an opt-in lasts: 30 days in the app, 24 hours in a partner's widget. */
export const CONSENT_TTL_MS = { app: 30 * 24 * 3600_000, widget: 24 * 3600_000 } as const;

export class Consent {
  constructor(
    private readonly store: SnapshotStore,
    private readonly storage: ClientStorage,
    private readonly surface: keyof typeof CONSENT_TTL_MS,
    private readonly now: () => number,
  ) {}

  private get ttl(): number {
    return CONSENT_TTL_MS[this.surface];
  }

  /** Whether the opt-in holds right now. */
  valid(): boolean {
    const at = this.store.get().consentExpiresAt;
    return at !== null && at > this.now();
  }

  /** The stored opt-in and key, when the opt-in is current; otherwise asks again (state 'needs-consent'). */
  async load(): Promise<DeviceKey | null> {
    const { store } = this;
    const consent = await this.storage.getConsent();
    const expiresAt = consent ? consent.at + this.ttl : 0;
    let key: DeviceKey | null = null;
    if (consent && consent.version === CONSENT_VERSION && expiresAt > this.now()) {
      key = await loadDeviceKey(this.storage);
      if (key) store.set({ consentAt: consent.at, consentExpiresAt: expiresAt, address: key.account.address });
    } else if (consent) {
      store.log(
        'info',
        consent.version !== CONSENT_VERSION
          ? 'what you agree to has changed: please review and opt in again'
          : `your opt-in expired on ${new Date(expiresAt).toISOString()}: please opt in again`,
      );
    }
    store.set({ state: key ? 'ready' : 'needs-consent' });
    return key;
  }

  /** Records the opt-in with its time and loads (or creates) the device key; null when that failed (logged). */
  async grant(): Promise<DeviceKey | null> {
    const at = this.now();
    try {
      await this.storage.putConsent({ granted: true, at, version: CONSENT_VERSION });
      const key = await loadOrCreateDeviceKey(this.storage);
      this.store.set({ consentAt: at, consentExpiresAt: at + this.ttl, address: key.account.address, state: 'ready' });
      this.store.log('info', key.created ? `created device key ${key.account.address}` : `using device key ${key.account.address}`);
      return key;
    } catch (e) {
      this.store.log('error', `could not record consent: ${describeError(e)}`);
      return null;
    }
  }

  /** Forgets the opt-in (the key and credit stay). */
  async revoke(): Promise<void> {
    try {
      await this.storage.deleteConsent();
    } catch (e) {
      this.store.log('error', `could not forget the consent: ${describeError(e)}`);
      return;
    }
    this.store.set({ consentAt: null, consentExpiresAt: null, state: 'needs-consent' });
    this.store.log('info', 'consent revoked: nothing runs until you opt in again (your device key and credit are kept)');
  }

  /** The opt-in lapsed (or was never given) while Start was pressed or a round came. */
  lapsed(): void {
    this.store.set({ state: 'needs-consent', consentAt: null, consentExpiresAt: null });
  }
}
