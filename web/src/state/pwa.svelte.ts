// The installable app's own state: online or not, whether a new build waits for the
// volunteer's go-ahead (registerType 'prompt': an update never reloads a training tab by itself),
// and installing it: the browser's prompt where it offers one (beforeinstallprompt), the
// Share-menu instructions on iOS, which has no prompt.
import { registerSW } from 'virtual:pwa-register';

/** The `beforeinstallprompt` event (Chromium browsers; not in the DOM typings). */
interface InstallPromptEvent extends Event {
  prompt(): Promise<unknown>;
  userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

/** iOS and iPadOS (which reports itself as a Mac with touch), not already opened from the home screen. */
function iosBrowserTab(): boolean {
  if (typeof navigator === 'undefined') return false;
  const ios = /iPad|iPhone|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);
  return ios && !(navigator as { standalone?: boolean }).standalone && !matchMedia('(display-mode: standalone)').matches;
}

export class PwaState {
  online = $state(typeof navigator === 'undefined' ? true : navigator.onLine);
  updateReady = $state(false);
  offlineReady = $state(false);
  /** The browser offered to install the app (beforeinstallprompt) and it is not installed yet. */
  installable = $state(false);
  /** iOS has no install prompt: the page explains Share → Add to Home Screen instead. */
  readonly iosInstallHint = iosBrowserTab();
  private installPrompt: InstallPromptEvent | null = null;
  private updateSW: ((reload?: boolean) => Promise<void>) | null = null;

  constructor(onOnline: () => void = () => {}) {
    addEventListener('beforeinstallprompt', (e) => {
      e.preventDefault(); // shown as our button instead of the browser's mini-infobar
      this.installPrompt = e as InstallPromptEvent;
      this.installable = true;
    });
    addEventListener('appinstalled', () => {
      this.installPrompt = null;
      this.installable = false;
    });
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

  /** The volunteer pressed Install: the browser's own prompt (usable once). */
  install = async () => {
    const e = this.installPrompt;
    if (!e) return;
    this.installPrompt = null;
    this.installable = false;
    await e.prompt();
    if ((await e.userChoice).outcome === 'dismissed') console.info('[idlegrad] install dismissed');
  };
}
