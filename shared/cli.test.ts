import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cliOutput, listOption, numberOption, parseCommandLine, UsageError, usageText, type CliOption, type CliSpec } from './cli.ts';

const SPEC = {
  command: 'npm run demo --',
  summary: 'A demo script.',
  options: {
    json: { type: 'boolean', help: 'JSON on stdout' },
    rounds: { type: 'string', arg: 'N', default: '8', help: 'rounds' },
    url: { type: 'string', arg: 'URL', help: 'a platform' },
  },
} as const satisfies CliSpec<Record<string, CliOption>>;

test('parses flags strictly, with defaults; --help wins over a mistake beside it', () => {
  const ok = parseCommandLine(SPEC, ['--json', '--url', 'http://x/']);
  assert.equal(ok.kind, 'ok');
  assert.deepEqual(ok.kind === 'ok' && ok.values, { json: true, rounds: '8', url: 'http://x/' });
  const eq = parseCommandLine(SPEC, ['--rounds=3']);
  assert.equal(eq.kind === 'ok' && eq.values.rounds, '3');
  for (const argv of [['--help'], ['-h'], ['--no-such-flag', '--help']]) assert.equal(parseCommandLine(SPEC, argv).kind, 'help', argv.join(' '));
});

test('an unknown flag, a missing value, a stray positional or a value on a boolean is an error naming it', () => {
  const cases: [string[], RegExp][] = [
    [['--no-such-flag'], /--no-such-flag/],
    [['--rounds'], /--rounds/],
    [['stray'], /stray/],
    [['--json=yes'], /--json/],
  ];
  for (const [argv, named] of cases) {
    const r = parseCommandLine(SPEC, argv);
    assert.equal(r.kind, 'error', argv.join(' '));
    assert.match(r.kind === 'error' ? r.message : '', named);
  }
});

test('usage lists every option with its placeholder and default, and --help itself', () => {
  const text = usageText(SPEC);
  assert.match(text, /^usage: npm run demo -- \[options\]\n\nA demo script\.\n/);
  assert.match(text, /--rounds N\s+rounds \(default 8\)/);
  assert.match(text, /--url URL\s+a platform\n/);
  assert.match(text, /--json\s+JSON on stdout\n/);
  assert.match(text, /-h, --help\s+print this text and exit/);
});

test('numberOption: absent is undefined; out of range, not an integer, empty or not a number is a UsageError naming the flag', () => {
  assert.equal(numberOption({}, 'n'), undefined);
  assert.equal(numberOption({ n: '12' }, 'n', { min: 1, integer: true }), 12);
  assert.equal(numberOption({ n: '0.5' }, 'n', { min: 0, max: 1 }), 0.5);
  const bad: [string, Parameters<typeof numberOption>[2], RegExp][] = [
    ['0', { min: 1, max: 64, integer: true }, /--n: expected an integer in \[1, 64\], got "0"/],
    ['1.5', { integer: true }, /an integer, got "1.5"/],
    ['abc', {}, /a number, got "abc"/],
    ['', {}, /got ""/],
    ['0', { positive: true }, /a number > 0/],
    ['Infinity', {}, /a number/],
  ];
  for (const [raw, rule, message] of bad)
    assert.throws(
      () => numberOption({ n: raw }, 'n', rule),
      (e: Error) => e instanceof UsageError && message.test(e.message),
    );
});

test('listOption: a comma list, each item checked against what is allowed', () => {
  assert.deepEqual(listOption({ only: 'a, b' }, 'only', ['a', 'b', 'c']), ['a', 'b']);
  assert.equal(listOption({}, 'only'), undefined);
  assert.throws(() => listOption({ only: 'a,z' }, 'only', ['a', 'b']), /--only: unknown "z" \(one or more of a, b\)/);
  assert.throws(() => listOption({ only: ',' }, 'only'), /--only: empty list/);
});

test('cliOutput: progress on stderr; the summary on stdout, or on stderr with --json; the JSON object alone on stdout', () => {
  const run = (json: boolean) => {
    const out: string[] = [];
    const err: string[] = [];
    const o = cliOutput(json, { out: (s) => out.push(s), err: (s) => err.push(s) });
    o.progress('step 1');
    o.summary('result: 3');
    o.json({ n: 3, big: 2n });
    return { out: out.join(''), err: err.join('') };
  };
  assert.deepEqual(run(false), { out: 'result: 3\n', err: 'step 1\n' });
  const j = run(true);
  assert.deepEqual(JSON.parse(j.out), { n: 3, big: '2' });
  assert.equal(j.err, 'step 1\nresult: 3\n');
});

test('runCli: exit 0 when every check passed, 1 naming the failed ones, 1 on a crash, 2 on a usage error', () => {
  const script = (body: string) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { runCli, UsageError } from ${JSON.stringify(new URL('./cli.ts', import.meta.url).href)};
         runCli({ command: 'npm run demo --', summary: 'demo', options: {} }, async () => { ${body} });`,
      ],
      { encoding: 'utf8' },
    );
  assert.equal(script('return [];').status, 0);
  const failed = script("return ['heldOutAccuracy 0.41 < 0.85', 'modelHashesAgree false'];");
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /FAILED: heldOutAccuracy 0\.41 < 0\.85; modelHashesAgree false/);
  const crashed = script("throw new Error('the platform did not start');");
  assert.equal(crashed.status, 1);
  assert.match(crashed.stderr, /the platform did not start/);
  const usage = script('throw new UsageError(\'--rounds: expected an integer ≥ 1, got "x"\');');
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /--rounds: expected an integer/);
});
