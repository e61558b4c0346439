// Graceful shutdown (SIGTERM from an orchestrator, SIGINT from a terminal), in order:
//   1. stop accepting: no new connection or socket; /readyz answers 503 so a balancer moves on;
//   2. finish the round: the open round commits now with the reports it acknowledged (or the
//      commit already running finishes), so no acknowledged report is left to be aborted;
//   3. close the sockets with a close code the page understands (1012 service restart for
//      SIGTERM, 1001 going away for SIGINT) so that pages reconnect, with jitter, to the next process;
//   4. stop everything else (validator, chain, ledger).
// Steps 2–3 are bounded by `timeoutMs`: a commit that hangs does not keep the process alive;
// its reports stay pending rows, decided ROUND_ABORTED on the next start (still in the ledger).

export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_SERVICE_RESTART = 1012;

export interface Drainable {
  stopAccepting(): void;
  /** Resolves to the round it committed, or null when none was open. */
  finishRound(): Promise<number | null>;
  closeSockets(going: { code: number; reason: string }): Promise<void>;
}

export interface DrainResult {
  /** Whether the open round's commit finished inside the timeout (true when none was open). */
  roundFinished: boolean;
  /** The round committed while draining, or null. */
  committedRound: number | null;
  ms: number;
}

export async function drain(part: Drainable, opts: { signal: 'SIGTERM' | 'SIGINT'; timeoutMs: number; log: (line: string) => void }): Promise<DrainResult> {
  const t0 = performance.now();
  part.stopAccepting();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), opts.timeoutMs)));
  let committedRound: number | null = null;
  const finished = await Promise.race([
    part.finishRound().then(
      (round) => ((committedRound = round), 'done' as const),
      (e: Error) => {
        opts.log(`shutdown: the open round's commit failed (${e.message}); its reports stay pending rows`);
        return 'failed' as const;
      },
    ),
    timedOut,
  ]);
  clearTimeout(timer);
  if (finished === 'timeout') opts.log(`shutdown: the open round did not commit within ${opts.timeoutMs} ms; stopping anyway`);
  const going =
    opts.signal === 'SIGTERM' ? { code: CLOSE_SERVICE_RESTART, reason: 'coordinator restarting' } : { code: CLOSE_GOING_AWAY, reason: 'coordinator stopping' };
  await part.closeSockets(going);
  const ms = Math.round(performance.now() - t0);
  const round = finished !== 'done' ? 'the open round did not finish' : committedRound === null ? 'no round was open' : `round ${committedRound} committed`;
  opts.log(`shutdown: drained in ${ms} ms (${round}), sockets closed with ${going.code}`);
  return { roundFinished: finished === 'done', committedRound, ms };
}
