// The validator's re-execution thread: coordinator/verify/reexec-worker.ts runs each sampled
// contribution's check (coordinator/verify/reexec.ts: the WGSL trainer through Dawn, or the CPU
// reference when Dawn has no adapter) so that a check never blocks the coordinator's event
// loop. The datasets are copied to the thread once, when it starts. The thread runs at the
// lowest CPU priority (thread-priority.ts), so a check never slows volunteers on the same machine.
import type { Worker } from 'node:worker_threads';
import type { RunSpec, VerificationSettings } from '../../shared/config.ts';
import type { Dataset } from '../../shared/mlp.ts';
import { IdlegradError } from '../../shared/errors.ts';
import { useSwiftShaderWhenNoDriver } from '../../kernels/swiftshader.ts';
import type { CheckClaim, Executor } from './checks.ts';
import type { CheckEvidence, ReexecOutcome } from './reexec.ts';
import { startWorker } from '../worker-calls.ts';
import { REEXEC_NICE, type ThreadPriority } from './thread-priority.ts';

export interface ExecutorState {
  executor: Executor;
  /** The Dawn adapter ("google swiftshader"), when Dawn re-executes. */
  adapter: string | null;
  /** Why the CPU reference re-executes instead of Dawn. */
  fallback: string | null;
  /** The thread's CPU priority (thread-priority.ts): its niceness, or why it was left. */
  priority?: ThreadPriority;
}

export interface ReexecThreadOptions {
  run: RunSpec;
  settings: VerificationSettings;
  train: Dataset;
  heldOut: Dataset;
  /** false: the CPU reference only (default: Dawn, falling back to the CPU). */
  gpu?: boolean;
  /** The thread's niceness, which Dawn's threads inherit (default REEXEC_NICE, the lowest; 0: the coordinator's). */
  nice?: number;
  /** Told when the thread settles on its executor, and again if it changes. */
  onExecutor?: (s: ExecutorState) => void;
}

export class ReexecThread {
  private worker: Worker | null = null;
  private ready: Promise<void> | null = null;
  private readonly pending = new Map<number, { resolve: (r: ReexecOutcome) => void; reject: (e: unknown) => void }>();
  private next = 0;
  state: ExecutorState | null = null;

  constructor(private readonly opts: ReexecThreadOptions) {}

  /** Whether the thread runs: started (by warm() or a check), not yet stopped. */
  get started(): boolean {
    return this.worker !== null;
  }

  /** Starts the thread (loading the datasets, Dawn and the trainer's pipelines) ahead of the first check. */
  warm(): Promise<void> {
    if (!this.worker) this.start();
    return this.ready!;
  }

  async check(thetaR: Float32Array, claim: CheckClaim, evidence: CheckEvidence): Promise<ReexecOutcome> {
    if (!this.worker) this.start();
    const w = this.worker!;
    await this.ready;
    if (this.worker !== w) throw new IdlegradError('INTERNAL', 're-execution thread stopped before it was ready');
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ type: 'check', id, thetaR, claim, evidence });
    });
  }

  /**
   * Releases the Dawn device and ends the thread. Terminating a thread while Dawn works in it
   * aborts the process (napi_throw), so this waits for the start-up and for the check in flight,
   * which the thread stops within one segment (reexec.ts abort(): that check rejects).
   */
  async stop(): Promise<void> {
    const w = this.worker;
    if (!w) return;
    await Promise.race([this.ready, new Promise((r) => setTimeout(r, 120_000).unref())]);
    this.worker = null;
    await Promise.race([
      new Promise<void>((resolve) => {
        const stopped = (m: { type: string }) => {
          if (m.type !== 'stopped') return;
          w.off('message', stopped);
          resolve();
        };
        w.on('message', stopped);
        w.postMessage({ type: 'stop' });
      }),
      new Promise((r) => setTimeout(r, 120_000).unref()),
    ]);
    await w.terminate();
  }

  private start(): void {
    useSwiftShaderWhenNoDriver();
    const { run, settings, train, heldOut, gpu = true, nice = REEXEC_NICE } = this.opts;
    const w = startWorker(new URL('./reexec-worker.ts', import.meta.url), { workerData: { run, settings, train, heldOut, gpu, nice } });
    w.unref();
    this.worker = w;
    let settle: () => void;
    this.ready = new Promise((r) => (settle = r));
    w.on('message', (m: { type: string; id: number; result: ReexecOutcome; message: string } & ExecutorState) => {
      if (m.type === 'executor') {
        this.state = { executor: m.executor, adapter: m.adapter, fallback: m.fallback, priority: m.priority ?? this.state?.priority };
        this.opts.onExecutor?.(this.state);
        settle();
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.result);
      else if (m.type === 'error') p.reject(new IdlegradError('INTERNAL', `re-execution failed: ${m.message}`));
    });
    const fail = (e: unknown) => {
      for (const p of this.pending.values()) p.reject(new IdlegradError('INTERNAL', `re-execution thread stopped: ${String(e)}`));
      this.pending.clear();
      settle();
      if (this.worker === w) this.worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(`exit ${code}`));
  }
}
