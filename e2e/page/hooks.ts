// e2e/page/: the test-only entries of the three pages (volunteer, embed, dashboard). The
// e2e build (`vite build --mode e2e`, vite.config.ts) swaps each page's main.ts for the file
// here into dist/web-e2e, which the browser tests' coordinator serves (IDLEGRAD_WEB_DIR); the
// production build never sees this folder. What they add: window.__idlegrad (test-hook.ts),
// and an attacking trainer when e2e/swarm.ts injects window.__idlegradAttack (attack.ts).
import { GpuTrainer } from '../../web/src/client/trainer.ts';
import type { PageHooks } from '../../web/src/state/volunteer.svelte.ts';
import { AttackingTrainer, isPageAttack, PAGE_ATTACKS } from './attack.ts';
import { installTestHook } from './test-hook.ts';

/** The test hook, and for a page the swarm made an attacker, its decorated trainer. */
export function pageHooks(): PageHooks {
  const attack = (window as { __idlegradAttack?: unknown }).__idlegradAttack;
  if (attack !== undefined && !isPageAttack(attack))
    throw new Error(`__idlegradAttack: expected one of ${PAGE_ATTACKS.join(', ')}, got ${JSON.stringify(attack)}`);
  if (attack !== undefined) console.warn(`idlegrad: this page is a TEST ATTACKER (${attack})`);
  return {
    onClient: (client) => installTestHook(client),
    ...(attack !== undefined ? { createTrainer: () => new AttackingTrainer(new GpuTrainer(), attack) } : {}),
  };
}
