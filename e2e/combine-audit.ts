// The cross-cohort combine's audit (`npm run audit`, e2e/audit.ts): for every committed round, the
// combine record the coordinator serves (GET /api/runs/:id/rounds/:round/combine: each group's
// level, input hashes, output hash, samples, the combine version) is redone from the uploaded
// cohort aggregates it names (GET /api/runs/:id/rounds/:round/aggregates/:hash) with the same
// deterministic code the coordinator ran (shared/robust-combine.ts auditCombine). Each round is
// one of: matched (every group's output reproduced; with the exact download also the published
// update is the last group's frame), mismatched (naming the round, level and group), not checked
// (naming the frames the coordinator no longer holds), or without a combine (it applied nothing).
import type { Hex } from 'viem';
import { auditCombine, parseCombineRecord } from '../shared/robust-combine.ts';
import { parseRunInfo } from '../shared/wire/index.ts';

export interface CombineMismatch {
  round: number;
  level: number;
  /** The group's index in the round's record. */
  group: number;
  detail: string;
}

export interface CombineAuditResult {
  /** Committed rounds looked at (0 … the open round − 1). */
  rounds: number;
  /** Rounds whose every group was redone to its recorded output. */
  matched: number;
  mismatches: CombineMismatch[];
  /** Rounds that could not be checked, with the input frames the coordinator did not serve. */
  unchecked: { round: number; missing: Hex[] }[];
  /** Rounds with no combine record (nothing was applied). */
  withoutCombine: number;
}

export async function auditCombines(o: { url: string; fetch?: typeof fetch; progress?: (line: string) => void }): Promise<CombineAuditResult> {
  const get = o.fetch ?? fetch;
  const at = (path: string) => get(new URL(path, o.url));
  const info = await at('api/run');
  if (!info.ok) throw new Error(`GET /api/run: HTTP ${info.status}`);
  const { run, round: open } = parseRunInfo(await info.json(), 'GET /api/run');
  const result: CombineAuditResult = { rounds: open, matched: 0, mismatches: [], unchecked: [], withoutCombine: 0 };
  for (let round = 0; round < open; round++) {
    const res = await at(`api/runs/${run.id}/rounds/${round}/combine`);
    if (res.status === 404) {
      result.withoutCombine++;
      continue;
    }
    if (!res.ok) throw new Error(`GET /api/runs/${run.id}/rounds/${round}/combine: HTTP ${res.status}`);
    const record = parseCombineRecord(await res.json());
    if (record.run !== run.id || record.round !== round) {
      result.mismatches.push({ round, level: 0, group: -1, detail: `the record served for round ${round} names run ${record.run}, round ${record.round}` });
      continue;
    }
    const held = new Map<Hex, Uint8Array>();
    const missing: Hex[] = [];
    for (const hash of new Set(record.groups.filter((g) => g.level === 1).flatMap((g) => g.inputs))) {
      const frame = await at(`api/runs/${run.id}/rounds/${round}/aggregates/${hash}`);
      if (frame.ok) held.set(hash, new Uint8Array(await frame.arrayBuffer()));
      else if (frame.status === 404) missing.push(hash);
      else throw new Error(`GET /api/runs/${run.id}/rounds/${round}/aggregates/${hash}: HTTP ${frame.status}`);
    }
    if (missing.length) {
      result.unchecked.push({ round, missing });
      continue;
    }
    const audit = auditCombine(run, record, (h) => held.get(h));
    result.mismatches.push(...audit.mismatches.map((m) => ({ round, ...m })));
    if (audit.combined && run.globalUpdate === 'exact') {
      // The exact download publishes the last group's frame itself: it must be those bytes.
      const published = await at(`api/runs/${run.id}/updates/${round}`);
      const bytes = published.ok ? new Uint8Array(await published.arrayBuffer()) : null;
      if (!bytes || Buffer.compare(bytes, audit.combined) !== 0)
        result.mismatches.push({
          round,
          level: record.groups.at(-1)!.level,
          group: record.groups.length - 1,
          detail: bytes ? "the published update is not the combine's last frame" : `the published update is not served (HTTP ${published.status})`,
        });
      else result.matched++;
    } else if (audit.combined) result.matched++;
    o.progress?.(`round ${round}: combine ${audit.combined ? 'matches' : 'MISMATCH'} (${record.groups.length} group(s), ${held.size} aggregate(s))`);
  }
  return result;
}
