// The installable app's own state: online or not, whether a new build waits for the
// volunteer's go-ahead (an update never reloads a training tab by itself), and installing it:
// the browser's prompt where it offers one (beforeinstallprompt), the Share-menu instructions
// on iOS, which has no prompt. The service worker is web/pwa/service-worker.js, emitted as
// /sw.js by the build.

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
  private waiting: ServiceWorker | null = null;
  /** The browser offered to install the app (beforeinstallprompt) and it is not installed yet. */
  installable = $state(false);
  /** iOS has no install prompt: the page explains Share → Add to Home Screen instead. */
  readonly iosInstallHint = iosBrowserTab();
  private installPrompt: InstallPromptEvent | null = null;

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
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).then(
      (reg) => {
        if (reg.waiting && navigator.serviceWorker.controller) this.offerUpdate(reg.waiting);
        this.watch(reg.installing);
        reg.addEventListener('updatefound', () => this.watch(reg.installing));
      },
      (e: unknown) => console.error('[idlegrad] service worker registration failed', e),
    );
  }

  /** An installed worker is an update when another one controls the page, else the first install. */
  private watch(worker: ServiceWorker | null): void {
    if (!worker) return;
    const onState = () => {
      if (worker.state !== 'installed') return;
      worker.removeEventListener('statechange', onState);
      if (navigator.serviceWorker.controller) this.offerUpdate(worker);
      else this.offlineReady = true;
    };
    worker.addEventListener('statechange', onState);
    onState();
  }

  private offerUpdate(worker: ServiceWorker): void {
    this.waiting = worker;
    this.updateReady = true;
  }

  /**
   * The volunteer accepted the update: the waiting worker takes over and the page reloads when
   * it controls the page; a page no worker controlled (the first visit) reloads itself.
   */
  applyUpdate = async () => {
    const controlled = !!navigator.serviceWorker?.controller;
    if (controlled) navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    this.waiting?.postMessage({ type: 'SKIP_WAITING' });
    if (!controlled) setTimeout(() => location.reload(), 500);
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
