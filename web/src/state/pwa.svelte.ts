// The installable app's own state: online or not, and whether a new build waits for the
// volunteer's go-ahead (an update never reloads a training tab by itself). The service worker
// is web/pwa/service-worker.js, emitted as /sw.js by the build.

export class PwaState {
  online = $state(typeof navigator === 'undefined' ? true : navigator.onLine);
  updateReady = $state(false);
  offlineReady = $state(false);
  private waiting: ServiceWorker | null = null;

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
}
