// Main-thread tasks long enough to matter (issue 18): PeerJS sends its signalling heartbeat from
// this thread every 5 s, and the coordinator's PeerServer closes a socket whose heartbeat has not
// come for its alive timeout, so a page that holds its thread for a long time loses its link to
// the signalling server. Chromium's Long Tasks API reports each such task after it ends; the page
// logs it, so a swarm's page log says how long the thread was held, and when.

/** Calls `report(ms)` for each main-thread task of at least `minMs`; a no-op where the browser has no Long Tasks API. Returns a stop function. */
export function watchLongTasks(report: (ms: number) => void, minMs = 1_000): () => void {
  const Observer = globalThis.PerformanceObserver;
  if (!Observer?.supportedEntryTypes?.includes('longtask')) return () => {};
  const observer = new Observer((list) => {
    for (const e of list.getEntries()) if (e.duration >= minMs) report(e.duration);
  });
  observer.observe({ type: 'longtask' });
  return () => observer.disconnect();
}
