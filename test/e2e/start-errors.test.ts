/** Start-up problems the server-process suite does not cover: each is one clear line on stderr and a non-zero exit, never a hang. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { spawnBerth } from '../support/server-process.ts';

describe('start-up errors', { concurrency: true, timeout: 120_000 }, () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-start-'));
    dirs.push(dir);
    return dir;
  }

  const cases: [string, () => Promise<Record<string, string>>, RegExp][] = [
    ['a database file that is not a database', async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'berth.db'), 'garbage, not SQLite');
      return { BERTH_DATA_DIR: dir };
    }, /cannot open the database .*berth\.db: file is not a database/],
    // Node's recursive mkdir spins forever here: the data dir is created one level at a time.
    ['a data dir that cannot be created (under /proc)', async () => ({ BERTH_DATA_DIR: '/proc/berth-nope/data' }), /data dir \/proc\/berth-nope\/data is not usable: ENOENT/],
    ['a data dir below a file', async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'file'), 'x');
      return { BERTH_DATA_DIR: join(dir, 'file', 'data') };
    }, /data dir .*file\/data is not usable: .*not a directory/],
    ['a number setting that is not a number', async () => ({ BERTH_DATA_DIR: await tempDir(), BERTH_GC_INTERVAL: 'soon' }), /gcIntervalSeconds \(BERTH_GC_INTERVAL\) = "soon"/],
    ['an idle timeout of zero', async () => ({ BERTH_DATA_DIR: await tempDir(), BERTH_IDLE_TIMEOUT: '0' }), /idleTimeoutSeconds \(BERTH_IDLE_TIMEOUT\) = 0/],
    ['an unknown storage driver', async () => ({ BERTH_DATA_DIR: await tempDir(), BERTH_STORAGE: 'floppy' }), /storage \(BERTH_STORAGE\) = "floppy"/],
  ];
  for (const [label, env, expected] of cases) {
    it(`exits with one line naming the problem on ${label}`, async () => {
      const proc = spawnBerth({ env: { BERTH_ADMIN_PASSWORD: 'x', BERTH_LISTEN: '127.0.0.1:0', ...(await env()) } });
      let timer: NodeJS.Timeout | undefined;
      const status = await Promise.race([proc.exited, new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), 60_000);
      })]);
      clearTimeout(timer);
      if (!status) {
        proc.child.kill('SIGKILL');
        assert.fail(`berth did not exit (hang); stderr: ${proc.stderr()}`);
      }
      assert.equal(status.code, 1, proc.stderr());
      const lines = proc.stderr().trim().split('\n');
      assert.equal(lines.length, 1, `one line:\n${proc.stderr()}`);
      assert.match(lines[0]!, /^berth: /);
      assert.match(lines[0]!, expected);
    });
  }
});
