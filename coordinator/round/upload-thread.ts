// Uploaded aggregates' checks and hashes (upload-check.ts) on a worker thread
// (upload-worker.ts), so that a round's upload burst — every cohort's uploader posts at
// exchangeEndsAt, 450 frames of 58 KiB at 2,000 volunteers, 1.45 ms of decode + hash each —
// does not hold the event loop past the report deadline (README "Scale"). The same function
// as in place, so verdicts and hashes do not depend on where it ran; an error keeps its code
// and message. If the thread cannot run, the check runs in place. The evidence desk hashes a
// spot check's upload here too (evidenceDigests): a residual in full is 41.7 MiB at gpt-small.
import type { Hex } from 'viem';
import type { RunSpec } from '../../shared/config.ts';
import type { DecodedFrame } from '../../shared/codec.ts';
import { IdlegradError, isErrorCode, type SerializedError } from '../../shared/errors.ts';
import { startWorker, WorkerCalls } from '../worker-calls.ts';
import { hashFrame } from '../../shared/codec.ts';
import { evidenceDigests, type EvidenceDigests } from '../../shared/wire/index.ts';
import { checkAggregate } from './upload-check.ts';

type Reply = { id: number; hash?: Hex; frame?: DecodedFrame; digests?: EvidenceDigests; error?: SerializedError };

export class UploadThread {
  private calls: WorkerCalls<Reply> | null = null;
  private stopped = false;

  constructor(private readonly run: RunSpec) {
    // Started now, not at the round's first upload: the burst should not wait for a thread to load.
    this.start();
  }

  private start(): WorkerCalls<Reply> {
    if (this.stopped) throw new Error('the upload thread was stopped');
    if (!this.calls || this.calls.failed)
      this.calls = new WorkerCalls<Reply>(startWorker(new URL('./upload-worker.ts', import.meta.url), { workerData: { run: this.run } }));
    return this.calls;
  }

  /** checkAggregate(run, round, bytes), off the event loop. `bytes` is copied, not moved. */
  async check(round: number, bytes: Uint8Array): Promise<{ hash: Hex; frame: DecodedFrame }> {
    const m = await this.call({ round, bytes }, () => checkAggregate(this.run, round, bytes), 'checking the aggregate');
    return { hash: m.hash!, frame: m.frame! };
  }

  /** evidenceDigests(bytes, run.paramCount), off the event loop (a residual in full is seconds of hashing at gpt-small). */
  async evidenceDigests(bytes: Uint8Array): Promise<EvidenceDigests> {
    const m = await this.call({ bytes, evidence: true }, () => ({ digests: evidenceDigests(bytes, this.run.paramCount, hashFrame) }), 'hashing the evidence');
    return m.digests!;
  }

  /** One call to the thread; in place (`inPlace`) when the thread cannot run; a refusal keeps its code and message. */
  private async call(msg: { bytes: Uint8Array; round?: number; evidence?: true }, inPlace: () => Omit<Reply, 'id'>, what: string): Promise<Omit<Reply, 'id'>> {
    let m: Reply;
    try {
      // A view into a larger buffer (a pooled request body) would clone all of it: send its own copy.
      const { bytes } = msg;
      const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
      m = await this.start().call({ ...msg, bytes: own });
    } catch (e) {
      if (!this.stopped) console.error(`[upload] upload thread: ${(e as Error).message}; ${what} on the event loop`);
      return inPlace();
    }
    if (m.error) {
      const { code, shortMessage, details } = m.error;
      throw new IdlegradError(isErrorCode(code) ? code : 'INTERNAL', shortMessage, details ? { details } : {});
    }
    return m;
  }

  stop(): void {
    this.stopped = true;
    void this.calls?.stop();
  }
}
