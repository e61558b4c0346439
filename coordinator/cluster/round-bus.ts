// One run's rounds on NATS JetStream (issue 17 item 4): the stream a gateway publishes each
// checked report to before it acknowledges it, and that a committer reads an open round back
// from after a takeover. One stream per run, file storage, three subjects:
//
//   idlegrad.run.<run>.open            a round opened: its cohorts and deadlines (msg id `open:<round>`)
//   idlegrad.run.<run>.report.<round>  one signed report as the volunteer sent it (msg id `<account>:<nonce>`)
//   idlegrad.run.<run>.aggregate.<round>  an uploaded cohort aggregate is stored (msg id `aggregate:<round>:<hash>`);
//                                      its bytes (up to megabytes: more than a NATS message) lie in the run's
//                                      JetStream object store, `IDLEGRAD_RUN_<run>_AGGREGATES`, as `<round>/<hash>`
//   idlegrad.run.<run>.committed       a round committed: its model hash (msg id `committed:<round>`)
//
// The message id is JetStream's `Nats-Msg-Id`: the stream stores a report once per (account,
// nonce) inside its duplicate window and answers a second publish with `duplicate: true` and the
// first one's sequence. The window must cover the longest round: a report replayed after its round
// closed is stale anyway, and the ledger's unique (account, nonce) key refuses it whenever it comes.
// (Not the report's signed lifetime, an hour by default: JetStream keeps every id of the window in
// memory, and at 3,000 reports a second an hour is 11 M ids.)
import { connect, JSONCodec, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type NatsConnection, type ObjectStore } from 'nats';
import type { Address, Hex } from 'viem';
import { parseClientMessage, type ClientMessage } from '../../shared/wire/index.ts';
import { parseJournaledCertificate } from '../../shared/session-key.ts';
import type { JournaledReport, RoundOpening } from '../round/index.ts';

export type ReportMessage = Extract<ClientMessage, { type: 'report' }>;

/** What the committer needs to decide a round it did not open itself: the engine's opening (cohorts, deadlines, θ_r hash). */
export type { RoundOpening } from '../round/index.ts';

/** A report as a gateway checked it (signature recovered to `account`, `receivedAt` when it arrived) and put it on the bus. */
export type BusReport = JournaledReport;

/** The stream's answer to a publish: where the message lies, and whether it was already there. */
export interface Published {
  seq: number;
  duplicate: boolean;
}

export interface RoundBusOptions {
  /** nats://host:port, one or more. */
  servers: string | string[];
  runId: number;
  /** How long a (account, nonce) is remembered for de-duplication: at least the longest round. Default 15 minutes. */
  duplicateWindowMs?: number;
  /** How long the stream keeps a run's messages. Default 7 days. */
  maxAgeMs?: number;
  /** How long a publish waits for the stream's acknowledgement. Default 5 s. */
  ackTimeoutMs?: number;
}

export class RoundBusError extends Error {
  override name = 'RoundBusError';
}

const MS = 1_000_000; // JetStream durations are nanoseconds

export class RoundBus {
  private readonly codec = JSONCodec<unknown>();
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly runId: number,
    readonly stream: string,
    private readonly ackTimeoutMs: number,
    private readonly objects: ObjectStore,
  ) {}

  /** Connects and creates the run's stream (or checks the one that exists). */
  static async open(opts: RoundBusOptions): Promise<RoundBus> {
    if (!Number.isSafeInteger(opts.runId) || opts.runId < 0) throw new RoundBusError(`runId must be a non-negative integer, got ${opts.runId}`);
    const nc = await connect({ servers: opts.servers, name: `idlegrad-run-${opts.runId}` }).catch((e: Error) => {
      throw new RoundBusError(`cannot connect to NATS at ${String(opts.servers)}: ${e.message}`, { cause: e });
    });
    try {
      const jsm = await nc.jetstreamManager();
      const stream = `IDLEGRAD_RUN_${opts.runId}`;
      const config = {
        name: stream,
        subjects: [`idlegrad.run.${opts.runId}.>`],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
        duplicate_window: (opts.duplicateWindowMs ?? 15 * 60_000) * MS,
        max_age: (opts.maxAgeMs ?? 7 * 24 * 3_600_000) * MS,
      };
      const existing = await jsm.streams.info(stream).catch(() => null);
      if (existing) await jsm.streams.update(stream, config);
      else await jsm.streams.add(config);
      const js = jsm.jetstream();
      const objects = await js.views.os(`${stream}_AGGREGATES`, { storage: StorageType.File, ttl: config.max_age });
      return new RoundBus(nc, js, jsm, opts.runId, stream, opts.ackTimeoutMs ?? 5_000, objects);
    } catch (e) {
      await nc.close();
      throw e instanceof RoundBusError
        ? e
        : new RoundBusError(`NATS at ${String(opts.servers)} has no usable JetStream: ${(e as Error).message}`, { cause: e });
    }
  }

  private subject(kind: 'open' | 'committed' | `report.${number}` | `aggregate.${number}`): string {
    return `idlegrad.run.${this.runId}.${kind}`;
  }

  /** Publishes and resolves only once the stream has stored the message (or found it already stored). */
  private async publish(subject: string, msgID: string, body: unknown): Promise<Published> {
    const ack = await this.js.publish(subject, this.codec.encode(body), { msgID, timeout: this.ackTimeoutMs }).catch((e: Error) => {
      throw new RoundBusError(`the stream ${this.stream} did not acknowledge ${subject} (${msgID}): ${e.message}`, { cause: e });
    });
    return { seq: ack.seq, duplicate: ack.duplicate };
  }

  publishOpen(o: RoundOpening): Promise<Published> {
    return this.publish(this.subject('open'), `open:${o.round}`, o);
  }

  /** A checked report: resolves once the stream holds it; a second (account, nonce) resolves `duplicate`, stored once. */
  publishReport(r: BusReport): Promise<Published> {
    if (r.message.type !== 'report') throw new RoundBusError(`publishReport takes a report message, got ${String((r.message as { type: unknown }).type)}`);
    return this.publish(this.subject(`report.${r.round}`), `${r.account.toLowerCase()}:${r.nonce}`, r);
  }

  /**
   * An uploaded cohort aggregate (or a relay member's frame) as the upload check hashed it: its
   * bytes into the object store, then its announcement on the round's subject; resolves once both
   * are stored. The same (round, hash) again is a duplicate, stored once.
   */
  async publishAggregate(round: number, hash: Hex, bytes: Uint8Array): Promise<Published> {
    if (!/^0x[0-9a-f]{64}$/.test(hash)) throw new RoundBusError(`aggregate hash must be 32 bytes of lowercase hex, got ${hash}`);
    const name = `${round}/${hash}`;
    if (!(await this.objects.info(name))) {
      await this.objects.putBlob({ name }, bytes).catch((e: Error) => {
        throw new RoundBusError(`the object store did not store aggregate ${name} (${bytes.byteLength} bytes): ${e.message}`, { cause: e });
      });
    }
    return this.publish(this.subject(`aggregate.${round}`), `aggregate:${round}:${hash}`, { round, hash, bytes: bytes.byteLength });
  }

  /** Every aggregate of `round` announced from sequence `fromSeq` on, with its bytes, in stream order. */
  async aggregates(round: number, fromSeq = 1): Promise<{ seq: number; hash: Hex; bytes: Uint8Array }[]> {
    const out: { seq: number; hash: Hex; bytes: Uint8Array }[] = [];
    for (const { seq, body } of await this.read(this.subject(`aggregate.${round}`), fromSeq)) {
      const o = body as { round?: unknown; hash?: unknown; bytes?: unknown } | null;
      if (!o || o.round !== round || typeof o.hash !== 'string' || !/^0x[0-9a-f]{64}$/.test(o.hash))
        throw new RoundBusError(`aggregate message ${seq}: not an aggregate of round ${round}`);
      const bytes = await this.objects.getBlob(`${round}/${o.hash}`);
      if (!bytes) throw new RoundBusError(`aggregate message ${seq}: ${round}/${o.hash} is not in the object store`);
      if (bytes.byteLength !== o.bytes)
        throw new RoundBusError(`aggregate message ${seq}: the object holds ${bytes.byteLength} bytes, the message says ${String(o.bytes)}`);
      out.push({ seq, hash: o.hash as Hex, bytes });
    }
    return out;
  }

  publishCommitted(round: number, modelHash: Hex): Promise<Published> {
    return this.publish(this.subject('committed'), `committed:${round}`, { round, modelHash });
  }

  /** The newest message on `subject` and its sequence, or null when the stream holds none. */
  private async last(subject: string): Promise<{ seq: number; body: unknown } | null> {
    const m = await this.jsm.streams.getMessage(this.stream, { last_by_subj: subject }).catch((e: Error & { code?: string }) => {
      if (e.code === '404' || /no message found/i.test(e.message)) return null;
      throw new RoundBusError(`reading the last ${subject} from ${this.stream}: ${e.message}`, { cause: e });
    });
    return m && { seq: m.seq, body: this.codec.decode(m.data) };
  }

  /**
   * The round a committer must finish after a takeover: the newest round opened on the bus, its
   * opening message's sequence, and every report and aggregate published for it since, in stream order; null
   * when no round opened or the newest one already committed.
   */
  async openRound(): Promise<{
    opening: RoundOpening;
    seq: number;
    reports: (BusReport & { seq: number })[];
    aggregates: { seq: number; hash: Hex; bytes: Uint8Array }[];
  } | null> {
    const open = await this.last(this.subject('open'));
    if (!open) return null;
    const opening = parseOpening(open.body, open.seq);
    const committed = await this.last(this.subject('committed'));
    if (committed && committed.seq > open.seq && (committed.body as { round?: unknown }).round === opening.round) return null;
    return { opening, seq: open.seq, reports: await this.reports(opening.round, open.seq), aggregates: await this.aggregates(opening.round, open.seq) };
  }

  /** Every report of `round` the stream holds from sequence `fromSeq` on, in stream order. */
  async reports(round: number, fromSeq = 1): Promise<(BusReport & { seq: number })[]> {
    return (await this.read(this.subject(`report.${round}`), fromSeq)).map(({ seq, body }) => ({ ...parseBusReport(body, seq, round), seq }));
  }

  /** Every message on `subject` from sequence `fromSeq` on (decoded, not yet checked), in stream order. */
  private async read(subject: string, fromSeq: number): Promise<{ seq: number; body: unknown }[]> {
    const info = await this.jsm.streams.info(this.stream, { subjects_filter: subject });
    if (!info.state.subjects?.[subject]) return [];
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: subject, opt_start_seq: fromSeq });
    const out: { seq: number; body: unknown }[] = [];
    try {
      for (;;) {
        const batch = await consumer.fetch({ max_messages: 1000, expires: 2_000 });
        let pending = -1;
        for await (const m of batch) {
          out.push({ seq: m.seq, body: this.codec.decode(m.data) });
          pending = m.info.pending;
          if (pending === 0) break;
        }
        // -1: nothing (more) from fromSeq on; 0: read up to the stream's end as it was.
        if (pending <= 0) return out;
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

function parseOpening(v: unknown, seq: number): RoundOpening {
  const o = v as Partial<RoundOpening> | null;
  if (
    !o ||
    !Number.isSafeInteger(o.round) ||
    typeof o.modelHash !== 'string' ||
    !Number.isFinite(o.startsAt) ||
    !Number.isFinite(o.exchangeEndsAt) ||
    !Number.isFinite(o.reportEndsAt) ||
    !Array.isArray(o.cohorts) ||
    (o.quarantined !== undefined && !(Array.isArray(o.quarantined) && o.quarantined.every((c) => Number.isSafeInteger(c) && c >= 0 && c < o.cohorts!.length)))
  )
    throw new RoundBusError(`message ${seq} on the open subject is not a round opening`);
  return o as RoundOpening;
}

function parseBusReport(v: unknown, seq: number, round: number): BusReport {
  const o = v as Partial<BusReport> | null;
  const where = `report message ${seq}`;
  if (!o || o.round !== round) throw new RoundBusError(`${where}: round is ${String(o?.round)}, not ${round}`);
  if (typeof o.account !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(o.account)) throw new RoundBusError(`${where}: account is not an address`);
  if (typeof o.nonce !== 'string' || !/^\d+$/.test(o.nonce)) throw new RoundBusError(`${where}: nonce is not a decimal integer`);
  if (!Number.isFinite(o.receivedAt)) throw new RoundBusError(`${where}: receivedAt is not a time`);
  let message: ClientMessage;
  try {
    message = parseClientMessage(o.message);
  } catch (e) {
    throw new RoundBusError(`${where}: ${(e as Error).message}`, { cause: e });
  }
  if (message.type !== 'report') throw new RoundBusError(`${where}: holds a ${message.type} message`);
  if (message.contribution.nonce !== o.nonce)
    throw new RoundBusError(`${where}: nonce ${o.nonce} is not the signed contribution's ${message.contribution.nonce}`);
  // Absent or null: kept as null, and the engine refuses the report by name (resumeRound); malformed: this message is not a report.
  let certificate: BusReport['certificate'] = null;
  if (o.certificate != null) {
    try {
      certificate = parseJournaledCertificate(o.certificate, 'certificate');
    } catch (e) {
      throw new RoundBusError(`${where}: ${(e as Error).message}`, { cause: e });
    }
  }
  return { round, account: o.account.toLowerCase() as Address, nonce: o.nonce, receivedAt: o.receivedAt!, message, certificate };
}
