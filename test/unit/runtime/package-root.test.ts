import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../../src/runtime/package-root.ts';

test('packageRoot finds the checkout from its own module', () => {
  assert.equal(packageRoot(), resolve(import.meta.dirname, '..', '..', '..'));
});

test("packageRoot walks past other packages' package.json and gives undefined outside berth", () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-root-'));
  try {
    mkdirSync(join(dir, 'app', 'dist', 'deep'), { recursive: true });
    writeFileSync(join(dir, 'app', 'dist', 'package.json'), JSON.stringify({ name: 'other' }));
    writeFileSync(join(dir, 'app', 'dist', 'deep', 'package.json'), '{not json');
    const from = join(dir, 'app', 'dist', 'deep', 'main.js');
    assert.equal(packageRoot(from), undefined);
    writeFileSync(join(dir, 'app', 'package.json'), JSON.stringify({ name: 'berth' }));
    assert.equal(packageRoot(from), join(dir, 'app'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
