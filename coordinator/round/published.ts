// What a page downloads to reach the current model, content-addressed (DESIGN.md "Small downloads
// too", issue 16): each round's global update and the current snapshot, named by the sha256 of
// their bytes. A URL with the hash in it never changes meaning, so the coordinator (and any CDN
// or object store in front of it) serves it as immutable; the one mutable thing is the small
// sync index (shared/wire/http.ts SyncIndex), from which a returning page picks whichever path
// costs fewer bytes. Each object is hashed once and the snapshot is encoded once per model
// state, never per request.
import { createHash } from 'node:crypto';
import type { Hex } from 'viem';
import { encodeSnapshot, MAX_SYNC_UPDATES, type PublishedObject, type SyncIndex } from '../../shared/wire/index.ts';
import type { ModelState } from '../db/index.ts';

/** The content address of published bytes: sha256, as 0x-prefixed hex. */
export const contentHash = (bytes: Uint8Array): Hex => `0x${createHash('sha256').update(bytes).digest('hex')}`;

/** Bytes of a snapshot hashed between two pauses of `prepare` (8 MiB: about 15 ms). */
export const SNAPSHOT_HASH_SLICE = 8 << 20;

/** Snapshots kept for fetching by hash: the current one and the one before (a page that read the index just before a commit). */
const SNAPSHOTS_KEPT = 2;

export class PublishedObjects {
  /** round → its update's address; null: no update that round (the model carried over). Immutable, so never evicted (~100 bytes a round). */
  private readonly updates = new Map<number, PublishedObject | null>();
  private snapshots: (PublishedObject & { round: number; modelHash: Hex; body: Uint8Array })[] = [];

  constructor(
    private readonly source: {
      run: number;
      /** The stored global update of a round (the ledger's), or null. */
      update(round: number): Promise<Uint8Array | null>;
      /** The model as committed now. */
      model(): Readonly<ModelState>;
    },
  ) {}

  /** Record a round's update as it is committed (its address goes out in `committed`). */
  noteUpdate(round: number, bytes: Uint8Array | null): PublishedObject | null {
    const obj = bytes && { hash: contentHash(bytes), bytes: bytes.byteLength };
    this.updates.set(round, obj);
    return obj;
  }

  /** A round's update address (hashed once), or null when that round published none. */
  async updateObject(round: number): Promise<PublishedObject | null> {
    const known = this.updates.get(round);
    if (known !== undefined) return known;
    // After a restart: hashed once from the ledger, then remembered (rounds below the model's are final).
    const bytes = await this.source.update(round);
    const obj = bytes && { hash: contentHash(bytes), bytes: bytes.byteLength };
    if (round < this.source.model().round) this.updates.set(round, obj);
    return obj;
  }

  /** A round's update bytes if `hash` is its address, else null. */
  async update(round: number, hash: Hex): Promise<Uint8Array | null> {
    const obj = await this.updateObject(round);
    if (!obj || obj.hash !== hash.toLowerCase()) return null;
    return this.source.update(round);
  }

  /** The current model's snapshot, encoded and hashed once per model state. */
  snapshot(): PublishedObject & { round: number; body: Uint8Array } {
    const m = this.source.model();
    return this.kept(m) ?? this.keep(m, encodeSnapshot(m), contentHash);
  }

  /**
   * Builds the current model's snapshot ahead of its first request (the engine, after each
   * commit), awaiting `pause` between slices of SNAPSHOT_HASH_SLICE bytes of its hash: at
   * gpt-small the whole hash (84 MiB) held the event loop for about 80 ms on top of the encoding.
   */
  async prepare(pause: () => Promise<void>): Promise<void> {
    const m = this.source.model();
    if (this.kept(m)) return;
    const body = encodeSnapshot(m);
    const hash = createHash('sha256');
    for (let at = 0; at < body.byteLength; at += SNAPSHOT_HASH_SLICE) {
      if (at > 0) await pause();
      hash.update(body.subarray(at, at + SNAPSHOT_HASH_SLICE));
    }
    const digest: Hex = `0x${hash.digest('hex')}`;
    // A request may have built it meanwhile (the same bytes, the same hash).
    if (!this.kept(m)) this.keep(m, body, () => digest);
  }

  private kept(m: Readonly<ModelState>) {
    return this.snapshots.find((s) => s.round === m.round && s.modelHash === m.modelHash);
  }

  private keep(m: Readonly<ModelState>, body: Uint8Array, hashOf: (body: Uint8Array) => Hex) {
    const snap = { round: m.round, modelHash: m.modelHash, hash: hashOf(body), bytes: body.byteLength, body };
    this.snapshots = [snap, ...this.snapshots].slice(0, SNAPSHOTS_KEPT);
    return snap;
  }

  /** A kept snapshot by its address, else null (an older one: read the sync index again). */
  snapshotByHash(hash: Hex): Uint8Array | null {
    return this.snapshots.find((s) => s.hash === hash.toLowerCase())?.body ?? null;
  }

  /** What takes a page at round `from` to the current model: the updates in between and the snapshot, each with its size. */
  async index(from: number): Promise<SyncIndex> {
    const m = this.source.model();
    const snap = this.snapshot();
    let updates: SyncIndex['updates'] = null;
    if (from <= m.round && m.round - from <= MAX_SYNC_UPDATES) {
      updates = [];
      for (let r = from; r < m.round; r++) {
        const obj = await this.updateObject(r);
        updates.push({ round: r, hash: obj?.hash ?? null, bytes: obj?.bytes ?? 0 });
      }
    }
    return { run: this.source.run, round: snap.round, modelHash: m.modelHash, updates, snapshot: { hash: snap.hash, bytes: snap.bytes } };
  }
}
