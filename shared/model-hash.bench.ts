// `npx tsx shared/model-hash.bench.ts [--json]`
//
// The model hash at each GPT preset's size (shared/model-hash.ts): the whole-model keccak
// (js-sha3, on the calling thread) against the 1 MiB sha256 chunks (WebCrypto digests, in
// flight together), with the longest stall of this thread's event loop while each ran — what a
// page's main thread or the coordinator's sessions wait for at every commit.
import { gptSpec, GPT_BASE, GPT_DEFAULT, GPT_SMALL, initParams } from './model.ts';
import { hashModel, type ModelHashScheme } from './model-hash.ts';
import { cliOutput, parseCli, runCli, type CliOption, type CliSpec } from './cli.ts';

const CLI = {
  command: 'npx tsx shared/model-hash.bench.ts',
  summary: 'Model hash time and event-loop stall at gpt-micro, gpt-small and gpt-base sizes, keccak256 vs sha256-chunks.',
  options: { json: { type: 'boolean', help: 'stdout holds only the result as one JSON object' } },
} as const satisfies CliSpec<Record<string, CliOption>>;

/** Runs `fn` while a 1 ms ticker measures the longest gap between its ticks. */
async function timed(fn: () => Promise<unknown>): Promise<{ ms: number; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  stallMs = Math.max(stallMs, performance.now() - last);
  clearInterval(ticker);
  return { ms, stallMs };
}

async function main(): Promise<string[]> {
  const out = cliOutput(parseCli(CLI).json === true);
  const rows: { preset: string; params: number; scheme: ModelHashScheme; ms: number; stallMs: number }[] = [];
  for (const [preset, dims] of [
    ['gpt-micro', GPT_DEFAULT],
    ['gpt-small', GPT_SMALL],
    ['gpt-base', GPT_BASE],
  ] as const) {
    const params = initParams(gptSpec(dims), 1);
    for (const scheme of ['keccak256', 'sha256-chunks'] as const) {
      await hashModel(params, scheme); // warm-up
      const { ms, stallMs } = await timed(() => hashModel(params, scheme));
      rows.push({ preset, params: params.length, scheme, ms, stallMs });
      out.summary(
        `${preset.padEnd(9)} ${String(params.length).padStart(10)} floats  ${scheme.padEnd(13)} ${ms.toFixed(0).padStart(6)} ms, longest event-loop stall ${stallMs.toFixed(0)} ms`,
      );
    }
  }
  out.json({ rows });
  return [];
}

runCli(CLI, main);
