// The command line of every `npm run` script (e2e/, kernels/dev/) and of the coordinator
// (coordinator/main.ts): `node:util` parseArgs in strict mode, a usage text built from the
// same option table, and one convention for streams and exit codes:
//   exit 0  done (or --help: usage on stdout)
//   exit 1  the script's own check failed (hashes disagree, parity over tolerance, a figure
//           past its bar), or it crashed
//   exit 2  the command line is wrong (unknown flag, missing or malformed value): the message
//           names the flag, usage follows on stderr
// Progress goes to stderr; the human summary to stdout, or with --json only the JSON object.
// Node only (node:util): scripts and the coordinator import it, never the browser bundle.
import { parseArgs } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_CHECK_FAILED = 1;
export const EXIT_USAGE = 2;

export interface CliOption {
  type: 'string' | 'boolean';
  /** One line for --help. */
  help: string;
  /** The value's placeholder in the usage text (string options): N, URL, DIR … */
  arg?: string;
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
}

export interface CliSpec<O extends Record<string, CliOption>> {
  /** How it is started: `npm run sim --`. */
  command: string;
  /** What it does, a few lines. */
  summary: string;
  options: O;
  /** Positional arguments it accepts (none by default: one is refused like an unknown flag). */
  positionals?: string;
}

type ValueOf<T extends CliOption> = T['type'] extends 'boolean'
  ? T['multiple'] extends true
    ? boolean[]
    : boolean
  : T['multiple'] extends true
    ? string[]
    : string;
export type CliValues<O extends Record<string, CliOption>> = {
  [K in keyof O]: O[K]['default'] extends string | boolean ? ValueOf<O[K]> : ValueOf<O[K]> | undefined;
};

/** A command-line mistake: exit 2 with this message (it names the flag) and the usage on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type CliParse<O extends Record<string, CliOption>> =
  { kind: 'help'; text: string } | { kind: 'error'; message: string; text: string } | { kind: 'ok'; values: CliValues<O>; positionals: string[] };

export function usageText<O extends Record<string, CliOption>>(spec: CliSpec<O>): string {
  const rows = Object.entries({ ...spec.options, help: { type: 'boolean', short: 'h', help: 'print this text and exit' } as CliOption }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
    const dflt = o.default !== undefined && o.default !== false ? ` (default ${o.default})` : '';
    return [flag, `${o.help}${o.multiple ? ' (repeatable)' : ''}${dflt}`] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return [
    `usage: ${spec.command} [options]${spec.positionals ? ` ${spec.positionals}` : ''}`,
    '',
    spec.summary.trim(),
    '',
    'options:',
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
    '',
  ].join('\n');
}

/** Parses `argv` (strict: an unknown flag, a missing value or a stray positional is an error). Pure: no exit, no output. */
export function parseCommandLine<O extends Record<string, CliOption>>(spec: CliSpec<O>, argv: string[]): CliParse<O> {
  const text = usageText(spec);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean; default?: string | boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = {
      type: o.type,
      ...(o.short !== undefined ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
      ...(o.default !== undefined ? { default: o.default } : {}),
    };
  }
  // --help wins over any mistake next to it.
  if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help', text };
  try {
    const { values, positionals } = parseArgs({ args: argv, options: options as never, strict: true, allowPositionals: !!spec.positionals });
    const { help: _help, ...rest } = values as Record<string, unknown>;
    return { kind: 'ok', values: rest as CliValues<O>, positionals };
  } catch (e) {
    // Node's messages name the flag ("Unknown option '--x'", "Option '--n <value>' argument missing").
    return { kind: 'error', message: (e as Error).message, text };
  }
}

/** parseCommandLine for a script's main: --help prints usage and exits 0; a mistake exits 2. */
export function parseCli<O extends Record<string, CliOption>>(spec: CliSpec<O>, argv: string[] = process.argv.slice(2)): CliValues<O> & { _: string[] } {
  const r = parseCommandLine(spec, argv);
  if (r.kind === 'help') {
    process.stdout.write(r.text);
    process.exit(EXIT_OK);
  }
  if (r.kind === 'error') usageExit(spec, r.message);
  return { ...r.values, _: r.positionals };
}

/** Refuses the command line: the message on stderr, then the usage; exit 2. */
export function usageExit(spec: CliSpec<Record<string, CliOption>>, message: string): never {
  process.stderr.write(`${spec.command.replace(/ --$/, '')}: ${message}\n\n${usageText(spec)}`);
  process.exit(EXIT_USAGE);
}

/**
 * A number option's value checked: undefined when absent (the caller's default applies), a
 * UsageError naming the flag when it is not a number in range.
 */
export function numberOption(
  values: Record<string, unknown>,
  name: string,
  rule: { min?: number; max?: number; integer?: boolean; positive?: boolean } = {},
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const { min = -Infinity, max = Infinity, integer = false, positive = false } = rule;
  const bad = !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v)) || (positive && !(v > 0));
  if (typeof raw !== 'string' || raw.trim() === '' || bad) {
    const kind = `${integer ? 'an integer' : 'a number'}${positive ? ' > 0' : ''}`;
    const range =
      min > -Infinity && max < Infinity ? `${kind} in [${min}, ${max}]` : min > -Infinity ? `${kind} ≥ ${min}` : max < Infinity ? `${kind} ≤ ${max}` : kind;
    throw new UsageError(`--${name}: expected ${range}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** A comma-separated list option (`--only a,b`), each item checked against `allowed` when given. */
export function listOption(values: Record<string, unknown>, name: string, allowed?: readonly string[]): string[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const items = String(raw)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = allowed ? items.filter((i) => !allowed.includes(i)) : [];
  if (items.length === 0 || bad.length)
    throw new UsageError(
      `--${name}: ${bad.length ? `unknown ${bad.map((b) => JSON.stringify(b)).join(', ')}` : 'empty list'}${allowed ? ` (one or more of ${allowed.join(', ')})` : ''}`,
    );
  return items;
}

/**
 * Where a script's lines go. progress: stderr, always. summary: stdout, or stderr with --json
 * (stdout then holds only the JSON object). json: the object on stdout, with --json only.
 */
export interface CliOutput {
  progress(line: string): void;
  summary(line: string): void;
  json(value: unknown): void;
}
export function cliOutput(json: boolean, streams: { out: (s: string) => void; err: (s: string) => void } = defaultStreams): CliOutput {
  return {
    progress: (line) => streams.err(`${line}\n`),
    summary: (line) => (json ? streams.err : streams.out)(`${line}\n`),
    json: (value) => {
      if (json) streams.out(`${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
    },
  };
}
const defaultStreams = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s) };

/**
 * A script's main, run: a UsageError (from option checks after parsing) exits 2 with the usage;
 * the check's failures, when any, are written to stderr and exit 1; a crash exits 1. `main`
 * resolves to the list of failed checks (empty: passed).
 */
export function runCli(spec: CliSpec<Record<string, CliOption>>, main: () => Promise<string[]>): void {
  main().then(
    (failures) => {
      if (failures.length) process.stderr.write(`${spec.command.replace(/ --$/, '')}: FAILED: ${failures.join('; ')}\n`);
      process.exit(failures.length ? EXIT_CHECK_FAILED : EXIT_OK);
    },
    (e: unknown) => {
      if (e instanceof UsageError) usageExit(spec, e.message);
      process.stderr.write(`${spec.command.replace(/ --$/, '')}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(EXIT_CHECK_FAILED);
    },
  );
}
