// The command-line tool (dist/cli.js, the package's `bin`) run as a child process, the way a user
// runs `npx lstm-wasm ...`: train / eval / tag on a small Brown slice, a character model and
// generate, a forecast on a sine wave against the naive baseline, checkpoint + resume, and usage
// errors. Node only. Needs `npm run build` first.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist', 'cli.js');
let dir = '';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(...args: string[]): Run {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run and require exit code 0, showing stderr otherwise. */
function ok(...args: string[]): string {
  const r = run(...args);
  if (r.code !== 0) throw new Error(`lstm-wasm ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

function number(out: string, re: RegExp): number {
  const m = re.exec(out);
  if (!m) throw new Error(`no ${re} in:\n${out}`);
  return Number(m[1]);
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  dir = mkdtempSync(join(tmpdir(), 'lstm-wasm-cli-'));
  // 200 sentences of the embedded Brown sample.
  const brown = readFileSync(join(root, 'data', 'brown', 'sample.txt'), 'utf8').split('\n').slice(0, 200).join('\n');
  writeFileSync(join(dir, 'brown200.txt'), `${brown}\n`);
  writeFileSync(join(dir, 'moby.txt'), readFileSync(join(root, 'data', 'moby-dick', 'sample.txt'), 'utf8').slice(0, 6000));
  // A sine wave with a 12-step period, next to a label column.
  const rows = Array.from({ length: 240 }, (_, t) => `2000-${String(t).padStart(3, '0')},${(50 + 10 * Math.sin((2 * Math.PI * t) / 12)).toFixed(4)}`);
  writeFileSync(join(dir, 'sine.csv'), `when,value\n${rows.join('\n')}\n`);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('lstm-wasm CLI', () => {
  test('pos: train 1 epoch on 200 sentences, eval reproduces the accuracy, tag prints one tag per word', () => {
    const out = ok('train', '--task', 'pos', '--epochs', '1', '--data', 'brown200.txt', '--out', 'pos.lstmw', '--quiet');
    expect(out).toMatch(/split 160 train \/ 20 valid \/ 20 test/);
    expect(out).toMatch(/^epoch 1\/1 .*valid acc \d\.\d{4}/m);
    const acc = number(out, /^test accuracy (\d\.\d+)/m);
    expect(acc).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'pos.lstmw'))).toBe(true);

    const ev = ok('eval', '--model', 'pos.lstmw');
    expect(number(ev, /^test accuracy (\d\.\d+)/m)).toBe(acc);
    expect(/^test accuracy .*\((\d+\/\d+) tokens\)/m.exec(ev)![1]).toBe(/^test accuracy .*\((\d+\/\d+) tokens\)/m.exec(out)![1]);

    const sentence = 'The jury said it did find that many of the reports were received .';
    const tagged = ok('tag', '--model', 'pos.lstmw', sentence).trim().split(' ');
    expect(tagged.map((p) => p.slice(0, p.lastIndexOf('/')))).toEqual(sentence.split(' '));
    for (const p of tagged) expect(p).toMatch(/^\S+\/\S+$/);
    // predict is an alias; two sentences give two lines.
    expect(ok('predict', '-m', 'pos.lstmw', 'The cat sat on the mat.', 'It rained .').trim().split('\n')).toHaveLength(2);
  });

  test('pos: a checkpoint resumed to epoch 2 ends where an uninterrupted 2-epoch run does', () => {
    const common = ['--data', 'brown200.txt', '--quiet', '--hidden', '32', '--embedding', '16'];
    const full = ok('train', ...common, '--epochs', '2', '--out', 'full.lstmw');
    ok('train', ...common, '--epochs', '1', '--out', 'half.lstmw', '--checkpoint', 'ck.lstmw');
    const resumed = ok('train', '--resume', 'ck.lstmw', '--epochs', '2', '--out', 'resumed.lstmw', '--quiet');
    expect(resumed).toMatch(/resuming at epoch 2/);
    const line = (s: string) => /^epoch 2\/2 .*valid acc \S+/m.exec(s)![0];
    expect(line(resumed)).toBe(line(full));
    expect(number(resumed, /^test accuracy (\d\.\d+)/m)).toBe(number(full, /^test accuracy (\d\.\d+)/m));
  });

  /** Start a training run, send SIGINT once `ready(stdout)` holds, and wait for the exit. */
  function interrupted(args: string[], ready: (stdout: string) => boolean): Promise<Run> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cli, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let sent = false;
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const poll = setInterval(() => {
        if (!sent && ready(stdout)) {
          sent = true;
          child.kill('SIGINT');
        }
      }, 20);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearInterval(poll);
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  test.each([
    ['pos', ['--data', 'brown200.txt', '--hidden', '16', '--embedding', '8']],
    ['char', ['--data', 'moby.txt', '--hidden', '16', '--seq-len', '16']],
  ])('%s: Ctrl-C stops at a batch boundary with exit code 130; the epoch-end checkpoint resumes the run', async (task, args) => {
    const [ck, model] = [`int-${task}.ckpt`, `int-${task}.lstmw`];
    const r = await interrupted(['train', '--task', task, ...args, '--epochs', '500', '--out', model, '--checkpoint', ck, '--quiet'], () => existsSync(join(dir, ck)));
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/stopping after this batch/);
    expect(r.stderr).toMatch(new RegExp(`interrupted during epoch \\d+; the last epoch-end checkpoint resumes the run: lstm-wasm train --resume ${ck}`));
    expect(r.stdout).not.toMatch(/^test /m);
    expect(existsSync(join(dir, model))).toBe(false);
    // The checkpoint holds the epoch before the interrupted one: resuming runs that one again.
    const during = Number(/interrupted during epoch (\d+)/.exec(r.stderr)![1]);
    expect(during).toBeGreaterThanOrEqual(2);
    const resumed = ok('train', '--resume', ck, '--epochs', String(during), '--out', model, '--quiet');
    expect(resumed).toMatch(new RegExp(`resuming at epoch ${during}\\b`));
    expect(existsSync(join(dir, model))).toBe(true);
  });

  test('pos: Ctrl-C without --checkpoint says that nothing was saved', async () => {
    const r = await interrupted(['train', '--data', 'brown200.txt', '--hidden', '16', '--embedding', '8', '--epochs', '500', '--out', 'never.lstmw', '--quiet'], (o) => /^epoch 1\/500 /m.test(o));
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted during epoch \d+; nothing was saved \(--checkpoint <file> writes a resumable checkpoint after every epoch\)/);
    expect(existsSync(join(dir, 'never.lstmw'))).toBe(false);
  });

  test('pos: a --checkpoint file this run did not write is not offered as the resume point', async () => {
    writeFileSync(join(dir, 'stale.ckpt'), 'left over from another run');
    // Ctrl-C as soon as training starts: before the first epoch end, so no checkpoint is written.
    const r = await interrupted(['train', '--data', 'brown200.txt', '--hidden', '16', '--embedding', '8', '--epochs', '500', '--out', 'never2.lstmw', '--checkpoint', 'stale.ckpt', '--quiet'], (o) => /^training: /m.test(o));
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/interrupted during epoch 1; nothing was saved/);
    expect(readFileSync(join(dir, 'stale.ckpt'), 'utf8')).toBe('left over from another run');
  });

  test('train refuses, before any work, seeds beyond 32 bits and paths it cannot write', () => {
    for (const [flag, v] of [['--seed', '4294967296'], ['--shuffle-seed', '1e300'], ['--split-seed', '-1']]) {
      const r = run('train', flag, v, '--epochs', '1');
      expect(r.code, `${flag} ${v}`).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`${flag} must be`));
    }
    writeFileSync(join(dir, 'afile'), 'x');
    for (const [flag, path, why] of [['--out', 'afile/model.lstmw', /files cannot be created in/], ['--out', '.', /it is a directory/], ['--checkpoint', 'afile/ck', /files cannot be created in/]] as const) {
      const r = run('train', '--data', 'brown200.txt', '--epochs', '1', flag, path);
      expect(r.code, `${flag} ${path}`).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`cannot write ${flag} ${path.replace('.', '\\.')}: `));
      expect(r.stderr).toMatch(why);
      expect(r.stdout).not.toMatch(/^epoch /m); // refused before training
    }
  });

  test('char: 1 epoch on a tiny text reports bits per character; generate prints the requested length', () => {
    const out = ok('train', '--task', 'char', '--data', 'moby.txt', '--epochs', '1', '--hidden', '32', '--seq-len', '32', '--out', 'char.lstmw', '--quiet');
    const bpc = number(out, /^test bits per character (\d+\.\d+)/m);
    expect(bpc).toBeGreaterThan(0);
    expect(bpc).toBeLessThan(8);
    expect(number(ok('eval', '--model', 'char.lstmw'), /^test bits per character (\d+\.\d+)/m)).toBe(bpc);

    const text = ok('generate', '--model', 'char.lstmw', '--length', '120', '--temperature', '0.8', '--prime', 'Call me', '--seed', '3');
    expect(text.startsWith('Call me')).toBe(true);
    expect(text.endsWith('\n')).toBe(true);
    expect(Array.from(text.slice('Call me'.length, -1))).toHaveLength(120);
    // Same seed, same text.
    expect(ok('generate', '-m', 'char.lstmw', '--length', '120', '--prime', 'Call me', '--seed', '3')).toBe(text);
  });

  test('forecast: a sine wave beats the naive last-value baseline; predict prints the next values', () => {
    const out = ok('train', '--task', 'forecast', '--data', 'sine.csv', '--column', 'value', '--window', '12', '--epochs', '30', '--hidden', '16', '--out', 'sine.lstmw', '--quiet');
    const m = /^test rmse (\S+) \(naive last-value baseline (\S+);/m.exec(out);
    expect(m).not.toBeNull();
    const [rmse, naive] = [Number(m![1]), Number(m![2])];
    expect(naive).toBeGreaterThan(3); // RMS of the 1-step change: 10·2·sin(π/12)/√2 ≈ 3.66
    expect(rmse).toBeLessThan(naive);
    expect(ok('eval', '--model', 'sine.lstmw')).toContain(`test rmse ${m![1]} (naive last-value baseline ${m![2]})`);

    const next = ok('predict', '--model', 'sine.lstmw', '--steps', '6').trim().split('\n').map(Number);
    // A file without the model's column: the message says whose column it is.
    writeFileSync(join(dir, 'other.csv'), 'month,level\n1,2\n2,3\n');
    const miss = run('predict', '--model', 'sine.lstmw', '--data', 'other.csv', '--steps', '2');
    expect(miss.code).toBe(2);
    expect(miss.stderr).toMatch(/the model's column "value" is not a column of .*other\.csv \(columns: month, level\); choose one with --column/);
    expect(next).toHaveLength(6);
    for (const v of next) {
      expect(v).toBeGreaterThan(30);
      expect(v).toBeLessThan(70);
    }
  });

  // Uses the model files of the tests above (a file's tests run in order).
  test('usage errors exit 2 with one line naming the option; runtime errors exit 1', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--epochs', 'abc'], /--epochs must be an integer/],
      [['train', '--batch-size', '0'], /--batch-size must be >= 1/],
      [['train', '--bogus'], /unknown option --bogus/],
      [['train', '--task', 'nope'], /--task must be one of pos, char, forecast/],
      [['train', '--lr'], /--lr needs a value/],
      [['train', '--task', 'pos', '--column', 'x'], /--column does not apply to --task pos/],
      [['train', '--resume', 'ck.lstmw', '--hidden', '8'], /--hidden cannot be combined with --resume/],
      [['eval'], /--model/],
      [['generate', '--model', 'pos.lstmw'], /--model pos\.lstmw is a pos model/],
      [['generate', '--model', 'char.lstmw', '--temperature', '-1'], /--temperature must be >= 0/],
      [['frobnicate'], /unknown command "frobnicate"/],
    ];
    for (const [args, re] of cases) {
      const r = run(...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(re);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    const missing = run('eval', '--model', 'missing.lstmw');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing\.lstmw: no such file/);
    expect(run('train', '--help').stdout).toMatch(/--batch-size/);
  });
});
