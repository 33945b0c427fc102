import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RegistryError } from '../../../src/domain/errors.ts';
import { isNameComponent, isSegmentName, isTag, MAX_NAME_LENGTH, parseRepositoryName } from '../../../src/domain/names.ts';

function nameInvalid(pattern?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof RegistryError, String(err));
    assert.equal(err.code, 'NAME_INVALID');
    assert.equal(err.status, 400);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe('parseRepositoryName', () => {
  it('splits {project}/{repo}/{image}, keeping slashes in the image', () => {
    assert.deepEqual(parseRepositoryName('demo/docker/app'), { full: 'demo/docker/app', project: 'demo', repo: 'docker', image: 'app' });
    assert.deepEqual(parseRepositoryName('demo/docker/team/sub/app'), {
      full: 'demo/docker/team/sub/app',
      project: 'demo',
      repo: 'docker',
      image: 'team/sub/app',
    });
  });

  it('accepts every separator of the grammar', () => {
    for (const name of ['a.b/c_d/e__f', 'a-b/c--d/e---f', 'a0/9z/x.y-z_w__v', '0/1/2']) {
      assert.equal(parseRepositoryName(name).full, name);
    }
  });

  it('accepts a project and a repo of exactly 32 characters, refuses 33', () => {
    const p32 = 'p'.repeat(32);
    assert.equal(parseRepositoryName(`${p32}/${p32}/app`).project, p32);
    assert.throws(() => parseRepositoryName(`${'p'.repeat(33)}/docker/app`), nameInvalid(/project name .* longer than 32/));
    assert.throws(() => parseRepositoryName(`demo/${'r'.repeat(33)}/app`), nameInvalid(/repo name .* longer than 32/));
  });

  it('lets the image component be longer than 32 characters', () => {
    const image = 'i'.repeat(100);
    assert.equal(parseRepositoryName(`demo/docker/${image}`).image, image);
  });

  it('refuses fewer than three components with a message explaining the form', () => {
    for (const name of ['app', 'demo/app']) {
      assert.throws(() => parseRepositoryName(name), nameInvalid(/\{project\}\/\{repo\}\/\{image\}/));
    }
  });

  it('refuses the empty name and names over 255 characters', () => {
    assert.throws(() => parseRepositoryName(''), nameInvalid());
    const long = `demo/docker/${'a'.repeat(MAX_NAME_LENGTH - 'demo/docker/'.length + 1)}`;
    assert.equal(long.length, MAX_NAME_LENGTH + 1);
    assert.throws(() => parseRepositoryName(long), nameInvalid(/1 to 255/));
    assert.equal(parseRepositoryName(long.slice(0, MAX_NAME_LENGTH)).full.length, MAX_NAME_LENGTH);
  });

  for (const [label, name] of [
    ['uppercase', 'demo/docker/App'],
    ['uppercase project', 'Demo/docker/app'],
    ['..', 'demo/docker/../app'],
    ['a component of dots', 'demo/../app/x'],
    ['double dot inside', 'demo/docker/a..b'],
    ['triple underscore', 'demo/docker/a___b'],
    ['mixed separators', 'demo/docker/a._b'],
    ['leading separator', 'demo/docker/-app'],
    ['trailing separator', 'demo/docker/app-'],
    ['trailing dot', 'demo/docker/app.'],
    ['empty component', 'demo//docker/app'],
    ['leading slash', '/demo/docker/app'],
    ['trailing slash', 'demo/docker/app/'],
    ['space', 'demo/docker/my app'],
    ['colon', 'demo/docker/app:1'],
    ['non-ascii', 'demo/docker/appé'],
    ['percent-encoding', 'demo/docker/a%2Fb'],
  ] as const) {
    it(`refuses ${label}: ${JSON.stringify(name)}`, () => assert.throws(() => parseRepositoryName(name), nameInvalid()));
  }
});

describe('isNameComponent / isSegmentName', () => {
  it('isSegmentName enforces the 32-character limit, isNameComponent does not', () => {
    assert.equal(isSegmentName('a'.repeat(32)), true);
    assert.equal(isSegmentName('a'.repeat(33)), false);
    assert.equal(isNameComponent('a'.repeat(33)), true);
  });

  it('both refuse the empty string, slashes and uppercase', () => {
    for (const v of ['', 'a/b', 'A']) {
      assert.equal(isSegmentName(v), false, v);
      assert.equal(isNameComponent(v), false, v);
    }
  });
});

describe('isTag', () => {
  it('accepts tags of 1 to 128 characters from the grammar', () => {
    for (const tag of ['latest', 'v1.0.0', '_hidden', 'A', '1', 'a-b_c.d', 'x'.repeat(128), 'Z.'.repeat(64)]) {
      assert.equal(isTag(tag), true, tag);
    }
  });

  it('refuses empty, too long, a leading dot or dash, and other characters', () => {
    for (const tag of ['', 'x'.repeat(129), '.hidden', '-rc', 'a/b', 'a:b', 'a b', 'sha256:abc', 'tag\n', 'é']) {
      assert.equal(isTag(tag), false, JSON.stringify(tag));
    }
  });
});
