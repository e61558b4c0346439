import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drain, CLOSE_GOING_AWAY, CLOSE_SERVICE_RESTART } from './shutdown.ts';

function recorder(finishRound: () => Promise<number | null>) {
  const steps: string[] = [];
  return {
    steps,
    part: {
      stopAccepting: () => void steps.push('stop accepting'),
      finishRound: () => (steps.push('finish round'), finishRound()),
      closeSockets: async (g: { code: number }) => void steps.push(`close ${g.code}`),
    },
  };
}

test('SIGTERM: stop accepting, then the open round commits, then sockets close with 1012', async () => {
  const { steps, part } = recorder(async () => (steps.push('committed'), 7));
  const lines: string[] = [];
  const r = await drain(part, { signal: 'SIGTERM', timeoutMs: 1_000, log: (l) => lines.push(l) });
  assert.deepEqual(steps, ['stop accepting', 'finish round', 'committed', `close ${CLOSE_SERVICE_RESTART}`]);
  assert.deepEqual([r.roundFinished, r.committedRound], [true, 7]);
  assert.match(lines.join('\n'), /round 7 committed\), sockets closed with 1012/);
});

test('SIGINT closes with 1001; a commit that hangs is cut at the timeout and the sockets still close', async () => {
  const { steps, part } = recorder(() => new Promise(() => {}));
  const t0 = Date.now();
  const r = await drain(part, { signal: 'SIGINT', timeoutMs: 150, log: () => {} });
  assert.ok(Date.now() - t0 < 1_000);
  assert.equal(r.roundFinished, false);
  assert.deepEqual(steps, ['stop accepting', 'finish round', `close ${CLOSE_GOING_AWAY}`]);
});
