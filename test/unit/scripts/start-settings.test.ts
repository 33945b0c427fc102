import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startSettings } from '../../../scripts/start-settings.ts';

describe('startSettings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-start-settings-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const withStart = (start: string) => {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ scripts: { start } }));
    return () => startSettings(dir);
  };

  it('splits the environment, node flags and entry of the start script', () => {
    assert.deepEqual(withStart('A_B=1 C=x=y node --one=2 --two dist/main.js serve --listen 1')(), { env: { A_B: '1', C: 'x=y' }, nodeFlags: ['--one=2', '--two'] });
    assert.deepEqual(withStart('node dist/main.js serve')(), { env: {}, nodeFlags: [] });
  });

  it('refuses a start script of another shape', () => {
    assert.throws(withStart('tsx src/main.ts serve'), /does not run node/);
    assert.throws(withStart('X=1 node --flag'), /names no entry/);
  });
});
