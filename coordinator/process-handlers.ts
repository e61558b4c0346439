// The coordinator's last line: a promise rejected with nobody listening, or an exception
// thrown from a callback, is logged and the process keeps serving volunteers (Node's default
// would exit and take the round, the sockets and the ledger's open work with it). The code
// that failed is a defect to fix from the log; the service is not the place to discover it.

/** Installs the handlers once per process; returns how many faults were logged so far. */
let installed = false;
let faults = 0;
export function keepServingOnFaults(log: (line: string) => void = console.error): () => number {
  if (!installed) {
    installed = true;
    const describe = (e: unknown) => (e instanceof Error ? (e.stack ?? e.message) : String(e)).slice(0, 4000);
    process.on('unhandledRejection', (reason) => {
      faults++;
      log(`[process] unhandled promise rejection (still serving): ${describe(reason)}`);
    });
    process.on('uncaughtException', (e, origin) => {
      faults++;
      log(`[process] uncaught exception from ${origin} (still serving): ${describe(e)}`);
    });
  }
  return () => faults;
}
