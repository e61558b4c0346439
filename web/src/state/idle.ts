// Idleness for idle-only mode: the Idle Detection API where the volunteer granted it (input
// anywhere on the computer, a locked screen), else input in this tab, and the client is told
// which. Loaded when idle-only is on (outside the page's initial JavaScript).
import type { VolunteerClient } from '../client/volunteer.ts';
import { reason } from './environment.ts';

interface IdleDetectorLike extends EventTarget {
  userState: 'active' | 'idle' | null;
  screenState: 'locked' | 'unlocked' | null;
  start(o: { threshold: number; signal?: AbortSignal }): Promise<void>;
}
interface IdleDetectorCtor {
  new (): IdleDetectorLike;
  requestPermission(): Promise<PermissionState>;
}

/** The Idle Detection API's smallest threshold (the specification's floor). */
export const IDLE_DETECTION_MIN_S = 60;

const idleDetector = () => (globalThis as { IdleDetector?: IdleDetectorCtor }).IdleDetector;

/**
 * Watches idleness for idle-only mode: the Idle Detection API when granted (input anywhere on
 * the computer, a locked screen counts as idle), otherwise input in this tab, and says which.
 */
export class IdleWatcher {
  private detector: AbortController | null = null;
  private tabTimer: ReturnType<typeof setTimeout> | null = null;
  private tabListening = false;

  constructor(private readonly client: VolunteerClient) {}

  private get g() {
    return this.client.snapshot().governance;
  }

  /**
   * Starts watching. `ask`: called from the volunteer's click, so the browser may show its
   * permission prompt; otherwise the API is used only when already granted.
   */
  async start(ask: boolean): Promise<void> {
    const ID = idleDetector();
    if (ID) {
      try {
        const state = ask ? await ID.requestPermission() : await permissionState();
        if (state === 'granted') return await this.startDetector(ID);
        if (ask) this.client.log('info', 'idle detection was not allowed: only your input in this tab counts as activity');
      } catch (e) {
        this.client.log('info', `idle detection unavailable (${reason(e)}): only your input in this tab counts as activity`);
      }
    }
    this.startTab();
  }

  /** The idle threshold changed: restart the detector with it. */
  restart(): void {
    if (this.detector) void this.start(false);
  }

  stop(): void {
    this.detector?.abort();
    this.detector = null;
    if (this.tabTimer) clearTimeout(this.tabTimer);
    this.client.setUserActive(false);
  }

  private async startDetector(ID: IdleDetectorCtor): Promise<void> {
    this.detector?.abort();
    const ctl = new AbortController();
    this.detector = ctl;
    const d = new ID();
    const read = () => this.client.setUserActive(d.userState === 'active' && d.screenState !== 'locked');
    d.addEventListener('change', read);
    await d.start({ threshold: Math.max(IDLE_DETECTION_MIN_S, this.g.idleAfterS) * 1000, signal: ctl.signal });
    this.client.setEnvironment({ idleSource: 'system' });
    read();
  }

  private startTab(): void {
    this.client.setEnvironment({ idleSource: 'tab' });
    if (this.tabListening) return;
    this.tabListening = true;
    const active = () => {
      if (!this.g.idleOnly || this.detector) return;
      this.client.setUserActive(true);
      if (this.tabTimer) clearTimeout(this.tabTimer);
      this.tabTimer = setTimeout(() => this.client.setUserActive(false), this.g.idleAfterS * 1000);
    };
    for (const ev of ['pointermove', 'pointerdown', 'keydown', 'wheel', 'touchstart']) addEventListener(ev, active, { passive: true });
  }
}

async function permissionState(): Promise<PermissionState> {
  return (await navigator.permissions.query({ name: 'idle-detection' as PermissionName })).state;
}
