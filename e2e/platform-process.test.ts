// The harness's platform process: one that is not ready within its startup time is stopped,
// with everything it started, and the start fails saying so (it used to keep running); one that
// outlives stop()'s grace and is SIGKILLed leaves nothing it started running (anvil did).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startPlatformProcess, stopProcessTree } from './platform-process.ts';

/** Pids of live processes whose environment names this data directory (the platform and its children). */
function processesOf(dataDir: string): number[] {
  const mark = `IDLEGRAD_DATA_DIR=${dataDir}\0`;
  return readdirSync('/proc').flatMap((p) => {
    if (!/^\d+$/.test(p)) return [];
    try {
      return readFileSync(`/proc/${p}/environ`, 'latin1').includes(mark) ? [Number(p)] : [];
    } catch {
      return []; // exited meanwhile, or not ours to read
    }
  });
}

for (const processGroup of [false, true]) {
  test(
    `a platform not ready within its startup time is stopped and the start fails (processGroup ${processGroup})`,
    { skip: process.platform !== 'linux' && 'reads /proc', timeout: 60_000 },
    async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'idlegrad-startup-'));
      try {
        const started = startPlatformProcess({}, { quiet: true, dataDir, processGroup, startupTimeoutMs: 1_500, fromSource: true });
        // While it starts, it is there to be stopped.
        await new Promise((r) => setTimeout(r, 500));
        assert.ok(processesOf(dataDir).length > 0, 'the platform process is running while it starts');
        await assert.rejects(started, /did not start within 1\.5 s and was stopped/);
        // Its children (anvil) get the coordinator's SIGTERM or the group's signal; give them a moment.
        for (let i = 0; i < 50 && processesOf(dataDir).length; i++) await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(processesOf(dataDir), [], 'nothing of the platform is left running');
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
}

test(
  'a process SIGKILLed at the end of its grace leaves no child running (a platform whose drain outlasts stop(): its anvil)',
  { skip: process.platform !== 'linux' && 'reads /proc', timeout: 30_000 },
  async () => {
    // A stand-in platform: it starts a long child (anvil's part), says so, and ignores SIGTERM (a drain that takes too long).
    const script = `const c = require('node:child_process').spawn('sleep', ['600'], { stdio: 'ignore' });
      process.on('SIGTERM', () => {});
      console.log(c.pid);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const grandchild = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    const running = (pid: number) => {
      try {
        return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
      } catch {
        return false;
      }
    };
    assert.ok(running(grandchild), 'its child runs');
    try {
      await stopProcessTree(child, exited, 300);
      assert.equal(child.signalCode, 'SIGKILL', 'it outlived its grace');
      assert.equal(running(grandchild), false, 'what it started went with it');
    } finally {
      if (running(grandchild)) process.kill(grandchild, 'SIGKILL');
    }
  },
);
