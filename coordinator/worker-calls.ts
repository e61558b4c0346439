// Requests to a worker thread, each answered by one message carrying the request's id: the
// coordinator's ledger (db/pglite-thread.ts), signature recovery (report-signature.ts) and
// held-out evaluation (eval-thread.ts) threads. The thread keeps the process alive only while
// a request waits on it; when it fails or exits, every waiting request rejects and so does
// every later one.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { basename } from 'node:path';

/** Defined (as true) only inside the compiled coordinator, dist/server (coordinator/deploy/build-server.mjs). */
declare const __IDLEGRAD_SERVER_BUILD__: true | undefined;

/**
 * A worker thread running `entry`, one of the coordinator's TypeScript worker modules
 * (`coordinator/…/<name>-worker.ts`). In the compiled coordinator the thread runs that module's
 * bundle, dist/server/<name>-worker.js, with plain `node`; run from source (tsx: the tests, the
 * scripts) it loads the TypeScript through tsx's API and the `.wgsl?raw` loader first (loader
 * flags do not reach worker threads on Node 20).
 */
export function startWorker(entry: URL, options: WorkerOptions): Worker {
  if (typeof __IDLEGRAD_SERVER_BUILD__ !== 'undefined')
    return new Worker(new URL(`../dist/server/${basename(entry.pathname, '.ts')}.js`, import.meta.url), options);
  const wgsl = new URL('../kernels/wgsl-register.mjs', import.meta.url).href;
  const code = `import('tsx/esm/api').then((m) => m.register()).then(() => import(${JSON.stringify(wgsl)})).then(() => import(${JSON.stringify(entry.href)}))`;
  return new Worker(code, { ...options, eval: true });
}

export class WorkerCalls<Reply extends { id: number }> {
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  constructor(private readonly worker: Worker) {
    worker.unref();
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      p?.resolve(m);
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`the thread exited (code ${code})`)));
  }

  /** Why the thread stopped answering, or null while it runs. */
  get failed(): Error | null {
    return this.failure;
  }

  /** Posts `{ id, ...request }`; resolves with the reply of that id. */
  call(request: object): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.next++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...request });
    });
  }

  /** Posts `message` with no id and waits for no reply (a one-way feed); false once the thread has failed. */
  send(message: object): boolean {
    if (this.failure) return false;
    this.worker.postMessage(message);
    return true;
  }

  async stop(): Promise<void> {
    this.fail(new Error('the thread was stopped'));
    await this.worker.terminate();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
