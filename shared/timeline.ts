// A contribution's life as a timeline (issue 5 item 4):
//
//   pending → accepted → verified | rejected (reason) → batched (epoch) → claimable (proof) → claimed (tx)
//
// The ledger keeps only the current state; the steps before it are implied by the order
// above. `verified` is a step only for sampled contributions: skipped or unverifiable work goes
// from accepted straight to an epoch, and the step says so. The coordinator's
// GET /api/contributions/:id and the volunteer page both draw it from here.
import type { ContributionState, TimelineEntry, TimelineStep, VerificationState } from './wire/http.ts';
import type { RejectionCode } from './wire/rejections.ts';

export interface TimelineInput {
  state: ContributionState;
  /** A refusal's code and prose (the ledger's reason_code and reason). */
  code?: RejectionCode | null;
  reason: string | null;
  epoch: number | null;
  verification?: VerificationState | null;
  claimTx?: string | null;
}

const ORDER: TimelineStep[] = ['pending', 'accepted', 'verified', 'batched', 'claimable', 'claimed'];

export function contributionTimeline(c: TimelineInput): TimelineEntry[] {
  if (c.state === 'rejected') {
    // Rejected at commit (never accepted) or by a failed spot check (accepted first).
    const afterAccept = c.verification === 'failed';
    return [
      { step: 'pending', status: 'done', detail: null },
      ...(afterAccept ? [{ step: 'accepted' as const, status: 'done' as const, detail: null }] : []),
      { step: 'rejected', status: 'failed', detail: [c.code, c.reason].filter(Boolean).join(': ') || 'no reason recorded' },
    ];
  }
  const at = ORDER.indexOf(c.state);
  return ORDER.map((step, i) => {
    const status: TimelineEntry['status'] = i < at ? 'done' : i === at ? 'current' : 'todo';
    return { step, status, detail: detailOf(step, c) };
  });
}

function detailOf(step: TimelineStep, c: TimelineInput): string | null {
  switch (step) {
    case 'verified':
      if (c.verification === 'passed') return 'spot check passed';
      if (c.verification === 'sampled') return 'sampled: check running';
      if (c.verification === 'skipped') return 'not sampled (credited unchecked)';
      if (c.verification === 'unverifiable') return 'not checkable (credited unchecked)';
      return null;
    case 'batched':
    case 'claimable':
      return c.epoch === null ? null : `epoch ${c.epoch}`;
    case 'claimed':
      return c.claimTx ?? null;
    default:
      return null;
  }
}
