// Everything the volunteer page keeps between visits, in IndexedDB (db "idlegrad"):
//
//   store     key                 value
//   keys      'device'            DeviceKeyRecord   the secp256k1 device key
//   meta      'consent'           ConsentRecord     when the volunteer opted in
//   meta      'residual'          ResidualRecord    error-feedback residual e (one run at a time)
//   meta      'settings'          SettingsRecord    GPU budget preset and pause rules
//   meta      'claim'             ClaimRecord       the last claim transaction (re-checked on load while pending)
//   datasets  dataset name        DatasetRecord     the training set, as served
//   models    run id              ModelRecord       θ_r and the outer momentum at round r
//   outbox    nonce               OutboxRecord      a signed report not yet acknowledged
//
// Where IndexedDB is unavailable (a cross-site iframe with third-party storage blocked,
// private modes), MemoryStorage keeps the same records for this page's lifetime only, and
// says so: `persistent` is false and `reason` tells the UI why.
import type { LocalModel } from '../../../shared/round.ts';
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { Address, Hex } from 'viem';
import type { ClientMessage } from '../../../shared/wire/index.ts';

export interface DeviceKeyRecord {
  privateKey: Hex;
  address: Address;
  createdAt: number;
}

export interface ConsentRecord {
  granted: true;
  /** Epoch ms of the opt-in click. */
  at: number;
  /** Bumped when what the volunteer agrees to changes; an older record asks again. */
  version: number;
}

export interface DatasetRecord {
  name: string;
  count: number;
  features: number;
  labels: Uint8Array;
  images: Uint8Array;
}

export interface ModelRecord extends LocalModel {
  savedAt: number;
}

/**
 * A signed report, written before it is sent and deleted only when the coordinator answered
 * for its nonce. `aggregate` holds the cohort aggregate this page had to upload and could not.
 */
export interface OutboxRecord {
  nonce: string;
  run: number;
  round: number;
  createdAt: number;
  /** The `report` ClientMessage exactly as sent (JSON-safe). */
  report: Extract<ClientMessage, { type: 'report' }>;
  aggregate: Uint8Array | null;
}

/** The volunteer's governance choices, kept between visits. */
export interface SettingsRecord {
  preset: 'light' | 'medium' | 'full';
  idleOnly: boolean;
  idleAfterS: number;
  pauseWhenHidden: boolean;
  /** Pause on battery (not charging) below this level, 0–1; 0 never pauses. */
  batteryMin: number;
  /** Follow the Compute Pressure API (ease off under serious, pause under critical CPU pressure). */
  followPressure: boolean;
  /** Train only while the battery charges (or there is no battery). */
  chargingOnly: boolean;
  /** Train only inside this weekly time-of-day window (local time); null: any time. */
  schedule: WeeklySchedule | null;
  /** Paused by the volunteer until this instant (epoch ms); null: not snoozed. */
  snoozeUntil: number | null;
}

/** A weekly time-of-day window in the browser's local time. */
export interface WeeklySchedule {
  /** Days the window opens on, 0 = Sunday … 6 = Saturday (Date#getDay). */
  days: number[];
  /** Minutes after local midnight: the window is [from, to); to ≤ from runs past midnight into the next day. */
  from: number;
  to: number;
}

/** The last claim sent from this page: a pending one is looked up on chain again after a reload. */
export interface ClaimRecord {
  /** The leaf's account (the device key, or the delegated wallet). */
  account: Address;
  /** The device key of the page that sent it (a key restored from a backup does not inherit its claims). */
  device: Address;
  txHash: Hex;
  state: 'pending' | 'mined' | 'reverted';
  /** Epoch ms the transaction was sent. */
  sentAt: number;
}

export interface ResidualRecord {
  run: number;
  paramTableHash: Hex;
  residual: Float32Array;
}

export interface ClientStorage {
  /** False when records vanish with the page. */
  readonly persistent: boolean;
  /** Why storage is not persistent (null when it is). */
  readonly reason: string | null;
  getKey(): Promise<DeviceKeyRecord | undefined>;
  putKey(rec: DeviceKeyRecord): Promise<void>;
  getConsent(): Promise<ConsentRecord | undefined>;
  putConsent(rec: ConsentRecord): Promise<void>;
  /** Revocation: forgets the consent only (the key, credit and caches stay). */
  deleteConsent(): Promise<void>;
  putOutbox(rec: OutboxRecord): Promise<void>;
  /** Oldest first. */
  listOutbox(): Promise<OutboxRecord[]>;
  deleteOutbox(nonce: string): Promise<void>;
  getResidual(): Promise<ResidualRecord | undefined>;
  putResidual(rec: ResidualRecord): Promise<void>;
  getSettings(): Promise<SettingsRecord | undefined>;
  putSettings(rec: SettingsRecord): Promise<void>;
  getClaim(): Promise<ClaimRecord | undefined>;
  putClaim(rec: ClaimRecord): Promise<void>;
  getDataset(name: string): Promise<DatasetRecord | undefined>;
  putDataset(rec: DatasetRecord): Promise<void>;
  getModel(run: number): Promise<ModelRecord | undefined>;
  putModel(rec: ModelRecord): Promise<void>;
}

interface IdlegradDb extends DBSchema {
  keys: { key: string; value: DeviceKeyRecord };
  meta: { key: string; value: ConsentRecord | ResidualRecord | SettingsRecord | ClaimRecord };
  datasets: { key: string; value: DatasetRecord };
  models: { key: number; value: ModelRecord };
  outbox: { key: string; value: OutboxRecord };
}

export const DB_NAME = 'idlegrad';
const DB_VERSION = 2;

class IdbStorage implements ClientStorage {
  readonly persistent = true;
  readonly reason = null;
  constructor(private readonly db: IDBPDatabase<IdlegradDb>) {}

  getKey() {
    return this.db.get('keys', 'device');
  }
  async putKey(rec: DeviceKeyRecord) {
    await this.db.put('keys', rec, 'device');
  }
  async getConsent() {
    return (await this.db.get('meta', 'consent')) as ConsentRecord | undefined;
  }
  async putConsent(rec: ConsentRecord) {
    await this.db.put('meta', rec, 'consent');
  }
  async deleteConsent() {
    await this.db.delete('meta', 'consent');
  }
  async putOutbox(rec: OutboxRecord) {
    await this.db.put('outbox', rec, rec.nonce);
  }
  async listOutbox() {
    return (await this.db.getAll('outbox')).sort((a, b) => a.createdAt - b.createdAt);
  }
  async deleteOutbox(nonce: string) {
    await this.db.delete('outbox', nonce);
  }
  async getResidual() {
    return (await this.db.get('meta', 'residual')) as ResidualRecord | undefined;
  }
  async putResidual(rec: ResidualRecord) {
    await this.db.put('meta', rec, 'residual');
  }
  async getSettings() {
    return (await this.db.get('meta', 'settings')) as SettingsRecord | undefined;
  }
  async putSettings(rec: SettingsRecord) {
    await this.db.put('meta', rec, 'settings');
  }
  async getClaim() {
    return (await this.db.get('meta', 'claim')) as ClaimRecord | undefined;
  }
  async putClaim(rec: ClaimRecord) {
    await this.db.put('meta', rec, 'claim');
  }
  getDataset(name: string) {
    return this.db.get('datasets', name);
  }
  async putDataset(rec: DatasetRecord) {
    await this.db.put('datasets', rec, rec.name);
  }
  getModel(run: number) {
    return this.db.get('models', run);
  }
  async putModel(rec: ModelRecord) {
    await this.db.put('models', rec, rec.run);
  }
}

/** Same records, gone with the page. */
export class MemoryStorage implements ClientStorage {
  readonly persistent = false;
  private key?: DeviceKeyRecord;
  private consent?: ConsentRecord;
  private residual?: ResidualRecord;
  private readonly datasets = new Map<string, DatasetRecord>();
  private readonly models = new Map<number, ModelRecord>();
  private readonly outbox = new Map<string, OutboxRecord>();

  constructor(readonly reason: string = 'storage is kept in memory for this session') {}

  async getKey() {
    return this.key;
  }
  async putKey(rec: DeviceKeyRecord) {
    this.key = rec;
  }
  async getConsent() {
    return this.consent;
  }
  async putConsent(rec: ConsentRecord) {
    this.consent = rec;
  }
  async deleteConsent() {
    this.consent = undefined;
  }
  async putOutbox(rec: OutboxRecord) {
    this.outbox.set(rec.nonce, rec);
  }
  async listOutbox() {
    return [...this.outbox.values()].sort((a, b) => a.createdAt - b.createdAt);
  }
  async deleteOutbox(nonce: string) {
    this.outbox.delete(nonce);
  }
  async getResidual() {
    return this.residual;
  }
  async putResidual(rec: ResidualRecord) {
    this.residual = rec;
  }
  private settings?: SettingsRecord;
  async getSettings() {
    return this.settings;
  }
  async putSettings(rec: SettingsRecord) {
    this.settings = rec;
  }
  private claim?: ClaimRecord;
  async getClaim() {
    return this.claim;
  }
  async putClaim(rec: ClaimRecord) {
    this.claim = rec;
  }
  async getDataset(name: string) {
    return this.datasets.get(name);
  }
  async putDataset(rec: DatasetRecord) {
    // A whole training set in memory is what the worker holds anyway; keep no second copy.
    void rec;
  }
  async getModel(run: number) {
    return this.models.get(run);
  }
  async putModel(rec: ModelRecord) {
    this.models.set(rec.run, rec);
  }
}

/**
 * Opens IndexedDB and proves it works with a read; falls back to MemoryStorage with the
 * reason when it does not (the caller shows the reason, it is never silent).
 */
export async function openStorage(factory?: IDBFactory): Promise<ClientStorage> {
  let idb = factory;
  try {
    // Reading the global itself throws in some sandboxed or storage-blocked frames.
    idb ??= globalThis.indexedDB;
  } catch (e) {
    return new MemoryStorage(`IndexedDB is blocked here (${e instanceof Error ? e.message : String(e)}), so your device key and credit live only in this tab.`);
  }
  if (!idb) return new MemoryStorage('IndexedDB is not available here, so your device key and credit live only in this tab.');
  try {
    const db = await withTimeout(
      openDB<IdlegradDb>(DB_NAME, DB_VERSION, {
        upgrade(db, oldVersion) {
          if (oldVersion < 1) {
            db.createObjectStore('keys');
            db.createObjectStore('meta');
            db.createObjectStore('datasets');
            db.createObjectStore('models');
          }
          if (oldVersion < 2) db.createObjectStore('outbox');
        },
      }),
      5_000,
      'IndexedDB did not open within 5 s',
    );
    await db.get('meta', 'consent');
    return new IdbStorage(db);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return new MemoryStorage(`IndexedDB is blocked here (${why}), so your device key and credit live only in this tab.`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const id = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => (clearTimeout(id), resolve(v)),
      (e) => (clearTimeout(id), reject(e)),
    );
  });
}
