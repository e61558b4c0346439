// Preloaded into the coordinator by `npm run load` (node --import): the event loop's delay
// as Node's monitorEventLoopDelay sees it. On SIGUSR2 it writes the histogram since the last
// SIGUSR2 (p50, p99, max in ms, and a sequence number) to $IDLEGRAD_LOAD_PROBE and resets it.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.IDLEGRAD_LOAD_PROBE;
if (!file) throw new Error('e2e/load-probe.mjs: IDLEGRAD_LOAD_PROBE (the file to write) is not set');
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
let seq = 0;
process.on('SIGUSR2', () => {
  const ms = (ns) => Number((ns / 1e6).toFixed(2));
  // Written whole, then renamed: the reader never sees half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify({ seq: ++seq, count: h.count, p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) }));
  renameSync(`${file}.tmp`, file);
  h.reset();
});
