// Requests to a worker thread, each answered by one message carrying the request's id: the
// coordinator's ledger (db/pglite-thread.ts), signature recovery (report-signature.ts) and
// held-out evaluation (eval-thread.ts) threads. The thread keeps the process alive only while
// a request waits on it; when it fails or exits, every waiting request rejects and so does
// every later one.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { basename } from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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

/** What WorkerCalls uses of its worker: a worker thread, or a child process (startProcess). */
export interface WorkerLike {
  postMessage(message: unknown): void;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a message is whatever the module posts
  on(event: 'message' | 'error' | 'exit', fn: (arg: any) => void): unknown;
  ref(): void;
  unref(): void;
  terminate(): Promise<unknown>;
  /** The child process's pid (startProcess); absent for a thread. */
  readonly pid?: number;
}

/**
 * `entry` (a worker module written for worker_threads: it reads `workerData` and talks through
 * `parentPort`, see workerPort) in a child process of its own: the same messages over the IPC
 * channel with V8's serializer (typed arrays keep their type; shared memory is copied, never
 * shared). A role that runs in its own process in a scaled-out deployment runs so here when
 * asked (the scale harness's aggregation role: its heap's collector is not the committer's).
 */
export function startProcess(entry: URL, workerData: unknown): WorkerLike {
  const compiled = typeof __IDLEGRAD_SERVER_BUILD__ !== 'undefined';
  const file = compiled ? fileURLToPath(new URL(`../dist/server/${basename(entry.pathname, '.ts')}.js`, import.meta.url)) : fileURLToPath(entry);
  const child = fork(file, [], { serialization: 'advanced', execArgv: compiled ? [] : ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  child.send({ workerData });
  const unref = () => {
    child.unref();
    (child.channel as { unref?: () => void } | undefined)?.unref?.();
  };
  return {
    postMessage: (m) => void child.send(m as object),
    on: (event: 'message' | 'error' | 'exit', fn: (x: never) => void) => child.on(event, fn as never),
    ref: () => {
      child.ref();
      (child.channel as { ref?: () => void } | undefined)?.ref?.();
    },
    unref,
    terminate: async () => void child.kill(),
    get pid() {
      return child.pid;
    },
  } as WorkerLike;
}

/**
 * Inside a worker module: its parent's port and workerData, as a worker thread (worker_threads)
 * or as a child process started by startProcess (whose first message carries the workerData).
 */
export async function workerPort(): Promise<{
  port: { on(e: 'message', fn: (m: never) => void): unknown; postMessage(m: unknown, transfer?: ArrayBuffer[]): void };
  data: unknown;
}> {
  const threads = await import('node:worker_threads');
  if (threads.parentPort) return { port: threads.parentPort as never, data: threads.workerData };
  if (!process.send) throw new Error('a worker module runs in a worker thread or a child process with an IPC channel');
  // One listener from the start: the first message is the workerData, the rest wait for the module's handler.
  let handler: ((m: never) => void) | null = null;
  const early: never[] = [];
  let gotData!: (d: unknown) => void;
  const data = new Promise<unknown>((resolve) => (gotData = resolve));
  let first = true;
  process.on('message', (m: unknown) => {
    if (first) return void ((first = false), gotData((m as { workerData: unknown }).workerData));
    if (handler) handler(m as never);
    else early.push(m as never);
  });
  // The parent going away ends this process.
  process.on('disconnect', () => process.exit(0));
  const port = {
    on: (_e: 'message', fn: (m: never) => void) => {
      handler = fn;
      for (const m of early.splice(0)) fn(m);
    },
    postMessage: (m: unknown) => void process.send!(m as object),
  };
  return { port, data: await data };
}

export class WorkerCalls<Reply extends { id: number }> {
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private next = 0;
  private failure: Error | null = null;

  constructor(private readonly worker: WorkerLike) {
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
