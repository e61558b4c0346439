// `npm run audit -- --url URL [--rpc RPC] [--json]`: recompute every reward epoch a platform
// posted on chain from its published epoch files alone (coordinator/rewards/audit.ts): each
// credited report's signature, its credit under the run's rule, each account's cumulative
// amount, the Merkle root — compared with the root the RewardDistributor emitted — and redo every
// committed round's cross-cohort combine from its record and the uploaded cohort aggregates
// (e2e/combine-audit.ts). Prints { epochs, rootsMatched, reports, mismatches: [...], combines:
// { rounds, matched, mismatches, unchecked, withoutCombine } }; exits 1 when any epoch's root
// differs, any report fails its check, an epoch on chain has no published file, or a combine is
// not what its record says. A round whose aggregates the coordinator no longer keeps is listed
// as not checked, with the missing frames.
import { auditPlatform } from '../coordinator/rewards/index.ts';
import { auditCombines } from './combine-audit.ts';
import { cliOutput, parseCli, runCli, UsageError, type CliOption, type CliSpec } from '../shared/cli.ts';

export const AUDIT_CLI = {
  command: 'npm run audit --',
  summary: `Recomputes every reward epoch a platform posted on chain from its published epoch files
(GET /api/epochs, /api/epochs/N.json): verifies each credited report's signature, recomputes its
credit and every account's cumulative amount, rebuilds the Merkle root and compares it with the
root the RewardDistributor emitted; redoes every committed round's cross-cohort combine from its
record (/api/runs/:id/rounds/:round/combine) and the uploaded cohort aggregates. Exits 1 on any
mismatch.`,
  options: {
    url: { type: 'string', arg: 'URL', help: "the platform's address, e.g. http://127.0.0.1:8080/ (required)" },
    rpc: { type: 'string', arg: 'URL', help: "the chain's JSON-RPC endpoint (default: the one the platform names, its /rpc proxy)" },
    json: { type: 'boolean', help: 'stdout holds only { epochs, rootsMatched, reports, mismatches, combines } as one JSON object' },
  },
} satisfies CliSpec<Record<string, CliOption>>;

async function main(): Promise<string[]> {
  const args = parseCli(AUDIT_CLI);
  if (!args.url) throw new UsageError('--url: the platform to audit is required');
  for (const [flag, v] of [
    ['url', args.url],
    ['rpc', args.rpc],
  ] as const)
    if (v !== undefined && !/^https?:\/\/\S+$/.test(v)) throw new UsageError(`--${flag}: expected an http(s) URL, got ${JSON.stringify(v)}`);
  const out = cliOutput(!!args.json);
  const result = await auditPlatform({ url: args.url, rpc: args.rpc, progress: out.progress });
  out.summary(
    `${result.rootsMatched} of ${result.epochs} epoch roots recomputed from the published files match the chain; ${result.reports} report signatures checked`,
  );
  for (const m of result.mismatches) out.summary(`  epoch ${m.epoch} ${m.kind}: ${m.detail}`);
  const combines = await auditCombines({ url: args.url, progress: out.progress });
  out.summary(
    `${combines.matched} of ${combines.rounds} committed rounds' combines redone from their records and uploaded aggregates match; ${combines.mismatches.length} mismatched group(s); ${combines.unchecked.length} round(s) not checked; ${combines.withoutCombine} without a combine`,
  );
  for (const m of combines.mismatches) out.summary(`  round ${m.round} combine level ${m.level} group ${m.group}: ${m.detail}`);
  for (const u of combines.unchecked) out.summary(`  round ${u.round} not checked: the coordinator no longer serves ${u.missing.join(', ')}`);
  out.json({ ...result, combines });
  const failures: string[] = [];
  if (result.rootsMatched !== result.epochs) failures.push(`${result.epochs - result.rootsMatched} of ${result.epochs} epoch roots do not match the chain`);
  if (result.mismatches.length) failures.push(`${result.mismatches.length} mismatches`);
  if (combines.mismatches.length)
    failures.push(`the combine of round(s) ${[...new Set(combines.mismatches.map((m) => m.round))].join(', ')} is not what its record says`);
  return failures;
}

runCli(AUDIT_CLI, main);
