// `npm start` as a person runs it, for the tests of the checkout (e2e/start.test.ts) and of the
// built package (e2e/package.test.ts): its own process group, as a terminal gives it; the
// volunteer URL it prints; and Ctrl-C (SIGINT to the group), after which no process that
// mentions its data directory may be left.
import { execFileSync, spawn } from 'node:child_process';

export interface NpmStart {
  /** The volunteer page's URL, as printed. */
  url: string;
  /** Everything it printed so far, stdout and stderr. */
  output(): string;
  /** Ctrl-C; resolves to how it ended: 'hung' when it did not exit within 30 s (it is then killed), and the processes it left. */
  interrupt(): Promise<{ code: number | null | 'hung'; left: string[] }>;
}

const processesMentioning = (needle: string) => {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
};

export { processesMentioning };

export async function npmStart(opts: { cwd?: string; env: NodeJS.ProcessEnv & { IDLEGRAD_DATA_DIR: string }; timeoutMs: number }): Promise<NpmStart> {
  const child = spawn('npm', ['start'], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const interrupt = async () => {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGINT');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    const left = processesMentioning(opts.env.IDLEGRAD_DATA_DIR);
    if (code === 'hung') process.kill(-child.pid!, 'SIGKILL');
    for (const pid of left) process.kill(Number(pid), 'SIGKILL');
    return { code, left };
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`npm start printed no URL within ${opts.timeoutMs / 1000} s:\n${out}`)), opts.timeoutMs);
      child.stdout.on('data', () => {
        const m = out.match(/Volunteer page\s+(http:\/\/\S+)/);
        if (m) (clearTimeout(t), resolve(m[1]));
      });
      child.once('exit', (code) => (clearTimeout(t), reject(new Error(`npm start exited with ${code}:\n${out}`))));
    });
    return { url, output: () => out, interrupt };
  } catch (e) {
    await interrupt();
    throw e;
  }
}
