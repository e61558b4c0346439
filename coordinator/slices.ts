// Per-session sends to thousands of sockets, in slices (issue 17): a `round` message, a verdict
// `ack`, a `committed` notice or an account summary each cost 0.05–0.15 ms of event loop
// (JSON and the socket write), so one loop over 5,000 sessions held the coordinator's loop for
// 0.3–0.7 s — the longest blocks `npm run load` found (--cpu-prof), with reports, uploads and
// pings waiting behind them. The first slice runs at once (a small run sends everything
// synchronously, as before); the rest run one slice per turn of the loop, in order.

/** Items handled per turn of the event loop: at 0.15 ms each, about 40 ms of loop. */
export const SEND_SLICE = 256;

/** fn(item) for every item in order, `slice` per event-loop turn (the first slice synchronously); resolves when all are done. */
export function forEachInSlices<T>(items: readonly T[], fn: (item: T) => void, slice = SEND_SLICE): Promise<void> {
  const run = (from: number) => {
    const to = Math.min(items.length, from + slice);
    for (let i = from; i < to; i++) fn(items[i]);
    return to;
  };
  let at = run(0);
  if (at >= items.length) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const next = () => {
      try {
        at = run(at);
        if (at >= items.length) resolve();
        else setImmediate(next);
      } catch (e) {
        reject(e);
      }
    };
    setImmediate(next);
  });
}
