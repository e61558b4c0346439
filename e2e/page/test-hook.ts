// window.__idlegrad: a read-only view of the client for Playwright. Getters read the
// latest snapshot; arrays are copies, so a test cannot change the page's state.
import type { VolunteerClient } from '../../web/src/client/volunteer.ts';

export interface IdlegradTestHook {
  readonly address: string | null;
  readonly round: number | null;
  readonly modelHash: string | null;
  readonly modelRound: number | null;
  readonly p2pBytes: number;
  readonly p2pBytesOut: number;
  /** Own update frames produced (one per trained round) and their total bytes. */
  readonly framesSent: number;
  readonly frameBytesSent: number;
  readonly contributions: Record<string, number>;
  readonly reportsSent: number;
  readonly lastAck: { nonce: string; state: string; reason: string | null; round: number | null } | null;
  readonly claims: string[];
  readonly errors: string[];
  /** The page's log (its last entries), as the volunteer's log panel shows it. */
  readonly log: { at: number; level: string; text: string }[];
  readonly state: string;
  readonly phase: string;
  readonly gpu: { status: string; device: string | null; vendor: string | null; architecture: string | null; message: string | null };
  readonly consentExpiresAt: number | null;
  readonly otherTabTraining: boolean;
  readonly lastStop: { clickedAt: number; requestedAt: number; idleAt: number; stepsDone: number } | null;
  /** Signed reports waiting in the IndexedDB outbox. */
  readonly outbox: number;
  readonly lastDuty: { round: number; busyMs: number; wallMs: number; preset: string } | null;
  /** Settings, the watched signals and what pauses training now. */
  readonly governance: {
    preset: string;
    idleOnly: boolean;
    idleAfterS: number;
    pauseWhenHidden: boolean;
    batteryMin: number;
    hidden: boolean;
    battery: { level: number; charging: boolean } | null;
    pressure: string | null;
    pausedBy: string[];
  };
  /** The delegated wallet (from the ledger) and the wallets EIP-6963 found. */
  readonly wallet: string | null;
  readonly walletsFound: string[];
  /** The device profile (measured before consent, on request). */
  readonly profile: {
    status: string;
    samplesPerSec: number | null;
    limits: Record<string, number> | null;
    estimate: { samplesPerHour: number; weiPerHour: string; duty: number; fitsInRound: boolean } | null;
  };
}

declare global {
  interface Window {
    __idlegrad?: IdlegradTestHook;
  }
}

export function installTestHook(client: VolunteerClient, target: Window = window): IdlegradTestHook {
  const s = () => client.snapshot();
  const hook: IdlegradTestHook = Object.freeze({
    get address() {
      return s().address;
    },
    get round() {
      return s().round;
    },
    get modelHash() {
      return s().model?.hash ?? null;
    },
    get modelRound() {
      return s().model?.round ?? null;
    },
    get p2pBytes() {
      return s().p2p.bytesIn;
    },
    get p2pBytesOut() {
      return s().p2p.bytesOut;
    },
    get framesSent() {
      return s().ownFrames.count;
    },
    get frameBytesSent() {
      return s().ownFrames.bytes;
    },
    get contributions() {
      return { ...(s().account?.contributions ?? {}) };
    },
    get reportsSent() {
      return s().reportsSent;
    },
    get lastAck() {
      const a = s().lastAck;
      return a && { ...a };
    },
    get claims() {
      return [...s().claim.txHashes];
    },
    get errors() {
      return [...s().errors];
    },
    get log() {
      return s().log.map((l) => ({ at: l.at, level: l.level, text: l.text }));
    },
    get state() {
      return s().state;
    },
    get phase() {
      return s().phase;
    },
    get gpu() {
      const g = s().gpu;
      return { status: g.status, device: g.device, vendor: g.adapter?.vendor ?? null, architecture: g.adapter?.architecture ?? null, message: g.message };
    },
    get consentExpiresAt() {
      return s().consentExpiresAt;
    },
    get otherTabTraining() {
      return s().otherTabTraining;
    },
    get lastStop() {
      const l = s().lastStop;
      return l && { ...l };
    },
    get outbox() {
      return s().outbox;
    },
    get lastDuty() {
      const d = s().lastDuty;
      return d && { ...d };
    },
    get wallet() {
      return s().account?.wallet ?? null;
    },
    get walletsFound() {
      return s().wallets.found.map((w) => w.rdns);
    },
    get governance() {
      const g = s().governance;
      return { ...g, battery: g.battery && { ...g.battery }, pausedBy: [...g.pausedBy] };
    },
    get profile() {
      const p = s().profile;
      return { status: p.status, samplesPerSec: p.samplesPerSec, limits: p.limits && { ...p.limits }, estimate: p.estimate && { ...p.estimate } };
    },
  });
  Object.defineProperty(target, '__idlegrad', { value: hook, writable: false, configurable: true, enumerable: false });
  return hook;
}
