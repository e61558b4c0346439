// TEST ONLY: the coordinator as `npm start` runs it (coordinator/serve.ts), with fault points
// injected as hooks from IDLEGRAD_FAULT, e.g. `epoch-sent:1`: it stops at that point of
// posting that epoch (`opened`: recorded in the ledger, no transaction yet; `sent`: the
// transaction mined, not yet recorded), prints a line and waits to be killed
// (e2e/epoch-crash.test.ts, e2e/failover.test.ts). Production code has no such switch.
import type { Hex } from 'viem';
import { configFromEnv, type PlatformHooks } from '../coordinator/config.ts';
import { serve } from '../coordinator/serve.ts';

export function faultHooks(v: string | undefined): PlatformHooks {
  if (!v) return {};
  const m = /^epoch-(opened|sent):(\d+)$/.exec(v);
  if (!m) throw new Error(`IDLEGRAD_FAULT: expected epoch-opened:N or epoch-sent:N, got ${JSON.stringify(v)}`);
  const at = m[1];
  const epoch = Number(m[2]);
  const stop = async (e: number, txHash?: Hex) => {
    if (e !== epoch) return;
    console.log(`FAULT epoch-${at}:${e}${txHash ? ` tx ${txHash}` : ''}: stopping here until killed`);
    await new Promise(() => {});
  };
  return { epoch: at === 'opened' ? { opened: (e) => stop(e) } : { sent: (e, tx) => stop(e, tx) } };
}

await serve(configFromEnv(process.env, { hooks: faultHooks(process.env.IDLEGRAD_FAULT) }));
