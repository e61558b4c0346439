// Waits until an expression over the page's test hook (`h` = window.__idlegrad, e2e/page/) holds.
// Polled with evaluate (DevTools protocol evaluation), not waitForFunction: Playwright builds a
// string predicate with `new Function` inside the page, which the pages' CSP (script-src without
// 'unsafe-eval', coordinator/http/security-headers.ts) refuses.
import type { IdlegradTestHook } from './page/test-hook.ts';

export interface Evaluates {
  evaluate(expression: string): Promise<unknown>;
}

export async function waitHook(target: Evaluates, body: string, timeout = 90_000): Promise<void> {
  const expression = `(() => { const h = window.__idlegrad; return !!h && (${body}); })()`;
  for (const t0 = Date.now(); ; await new Promise((r) => setTimeout(r, 100))) {
    if (await target.evaluate(expression)) return;
    if (Date.now() - t0 > timeout) throw new Error(`waitHook: ${body} did not hold within ${timeout} ms`);
  }
}

/** A value read from the page's test hook: `fn` runs in the page with h = window.__idlegrad. */
export const readHook = <T>(page: Evaluates, fn: (h: IdlegradTestHook) => T): Promise<T> =>
  page.evaluate(`(${fn.toString()})(window.__idlegrad)`) as Promise<T>;
