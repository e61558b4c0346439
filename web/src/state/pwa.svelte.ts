// The installable app's own state: online or not, and whether a new build waits for the
// volunteer's go-ahead (registerType 'prompt': an update never reloads a training tab by itself).
import { registerSW } from 'virtual:pwa-register';

export class PwaState {
  online = $state(typeof navigator === 'undefined' ? true : navigator.onLine);
  updateReady = $state(false);
  offlineReady = $state(false);
  private updateSW: ((reload?: boolean) => Promise<void>) | null = null;

  constructor(onOnline: () => void = () => {}) {
    addEventListener('online', () => {
      this.online = true;
      onOnline();
    });
    addEventListener('offline', () => (this.online = false));
  }

  /** Registers the service worker (production builds only: the dev server has none). */
  register(): void {
    if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return;
    this.updateSW = registerSW({
      onNeedRefresh: () => (this.updateReady = true),
      onOfflineReady: () => (this.offlineReady = true),
      onRegisterError: (e: unknown) => console.error('[idlegrad] service worker registration failed', e),
    });
  }

  /**
   * The volunteer accepted the update: activate the new service worker and reload. Workbox
   * reloads when the new worker takes control; a page the old one never controlled (the first
   * visit) would wait forever for that, so it reloads itself shortly after.
   */
  applyUpdate = async () => {
    await this.updateSW?.(true);
    if (!navigator.serviceWorker?.controller) setTimeout(() => location.reload(), 500);
  };
  dismissUpdate = () => (this.updateReady = false);
}
