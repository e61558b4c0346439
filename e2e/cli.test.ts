// Every `npm run` script's command line (shared/cli.ts): --help prints usage on stdout and
// exits 0, an unknown flag exits 2 with a message naming it, and both before any work (no
// platform, browser or simulation is started: each run here takes about a tsx start-up).
// The commands are package.json's own, so a script renamed or repointed is tested as it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/**
 * Scripts that are other tools' command lines (tsc, vite, prettier, the test runner) or npm's
 * lifecycle hooks, which npm runs itself and never with a person's flags: not ours to parse.
 */
const TOOLS = new Set(['build', 'typecheck', 'test', 'format', 'format:check', 'pretest', 'prestart', 'postinstall', 'prepack', 'postpack']);

/**
 * The command a script runs, for our arguments, after its pre-script as npm runs it (`start`:
 * the compiled coordinator brought up to date, then `node dist/server/start.js`, which parses
 * before it builds the web app or starts anything).
 */
function commandOf(name: string): string {
  return scripts[`pre${name}`] ? `${scripts[`pre${name}`]} && ${scripts[name]}` : scripts[name];
}

function run(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(`${command} ${args.join(' ')}`, {
      cwd: ROOT,
      shell: true,
      env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const ours = Object.keys(scripts).filter((n) => !TOOLS.has(n));
// The sub-modes of `sim` have their own options and usage.
const cases: { name: string; command: string; mode: string[] }[] = [
  ...ours.map((name) => ({ name, command: commandOf(name), mode: [] })),
  { name: 'sim --verify', command: scripts.sim, mode: ['--verify'] },
  { name: 'sim --speed', command: scripts.sim, mode: ['--speed'] },
];

test('the scripts checked here are every npm script that is ours', () => {
  assert.deepEqual(ours.sort(), ['audit', 'bench', 'dev', 'load', 'onnx-parity', 'scale', 'sim', 'start', 'swarm']);
});

// Two at a time: the machine has two cores and each run is mostly tsx compiling the script's imports.
test('every script: --help exits 0 with usage on stdout; --no-such-flag exits 2 naming the flag', { timeout: 600_000 }, async () => {
  const jobs = cases.flatMap((c) => [
    async () => {
      const r = await run(c.command, [...c.mode, '--help']);
      assert.equal(r.code, 0, `${c.name} --help: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stdout, /^usage: npm (run \S+|start) --/, `${c.name} --help: usage on stdout`);
      assert.match(r.stdout, /--help\s+print this text and exit/);
    },
    async () => {
      const r = await run(c.command, [...c.mode, '--no-such-flag']);
      assert.equal(r.code, 2, `${c.name} --no-such-flag: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
      assert.match(r.stderr, /Unknown option '--no-such-flag'/, `${c.name}: the message names the flag`);
      assert.match(r.stderr, /usage: /, `${c.name}: usage follows the message on stderr`);
      assert.equal(r.stdout, '', `${c.name}: nothing on stdout`);
    },
  ]);
  const queue = [...jobs];
  await Promise.all(
    [0, 1].map(async () => {
      for (let job = queue.shift(); job; job = queue.shift()) await job();
    }),
  );
});

test('a malformed value exits 2 naming the flag (sim, load, swarm)', async () => {
  const bad: [string, string[], RegExp][] = [
    [scripts.sim, ['--rounds', 'many'], /--rounds: expected a number, got "many"/],
    [scripts.load, ['--relay-share', '2'], /--relay-share: expected a number in \[0, 1\], got "2"/],
    [scripts.swarm, ['--volunteers', '0'], /--volunteers: expected an integer in \[1, 64\], got "0"/],
  ];
  for (const [command, args, message] of bad) {
    const r = await run(command, args);
    assert.equal(r.code, 2, `${command} ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
