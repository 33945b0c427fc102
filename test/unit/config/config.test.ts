import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, parseListen } from '../../../src/config/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'berth-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function configFile(content: unknown): string {
  const path = join(dir, `config-${files++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const configError = (pattern: RegExp) => (err: unknown): boolean => {
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, pattern);
  return true;
};

describe('loadConfig', () => {
  it('has defaults for the core settings and none for the admin password and base URL', () => {
    const config = loadConfig({ env: {} });
    const core = { listen: config.listen, dataDir: config.dataDir, autoCreate: config.autoCreate, logLevel: config.logLevel };
    assert.deepEqual(core, { listen: '127.0.0.1:5000', dataDir: resolve('./data'), autoCreate: true, logLevel: 'info' });
    assert.equal(config.adminPassword, undefined);
    assert.equal(config.baseUrl, undefined);
  });

  it('does not read process.env when an env is given', () => {
    const before = process.env.BERTH_LISTEN;
    process.env.BERTH_LISTEN = '0.0.0.0:1';
    try {
      assert.equal(loadConfig({ env: {} }).listen, '127.0.0.1:5000');
    } finally {
      if (before === undefined) delete process.env.BERTH_LISTEN;
      else process.env.BERTH_LISTEN = before;
    }
  });

  it('layers file < env < flags', () => {
    const file = configFile({ listen: '10.0.0.1:1001', dataDir: '/from/file', logLevel: 'warn', adminPassword: 'file-secret' });
    const env = { BERTH_LISTEN: '10.0.0.2:1002', BERTH_DATA_DIR: '/from/env' };
    const flags = { listen: '10.0.0.3:1003' };
    const config = loadConfig({ env, file, flags });
    assert.equal(config.listen, '10.0.0.3:1003');
    assert.equal(config.dataDir, '/from/env');
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.adminPassword, 'file-secret');
    assert.equal(loadConfig({ env, file }).listen, '10.0.0.2:1002');
    assert.equal(loadConfig({ env: {}, file }).listen, '10.0.0.1:1001');
  });

  it('reads the file named by BERTH_CONFIG, and an explicit file wins over it', () => {
    const a = configFile({ logLevel: 'debug' });
    const b = configFile({ logLevel: 'error' });
    assert.equal(loadConfig({ env: { BERTH_CONFIG: a } }).logLevel, 'debug');
    assert.equal(loadConfig({ env: { BERTH_CONFIG: a }, file: b }).logLevel, 'error');
  });

  it('ignores empty environment variables and undefined flags', () => {
    const file = configFile({ listen: ':7000' });
    const config = loadConfig({ env: { BERTH_LISTEN: '' }, file, flags: { listen: undefined } });
    assert.equal(config.listen, ':7000');
  });

  it('resolves the data dir to an absolute path', () => {
    const config = loadConfig({ env: { BERTH_DATA_DIR: 'relative/data' } });
    assert.ok(isAbsolute(config.dataDir));
    assert.equal(config.dataDir, resolve('relative/data'));
  });

  it('reads autoCreate booleans from env strings, the file and flags', () => {
    for (const [value, expected] of [['true', true], ['1', true], ['yes', true], ['false', false], ['0', false], ['no', false]] as const) {
      assert.equal(loadConfig({ env: { BERTH_AUTO_CREATE: value } }).autoCreate, expected, value);
    }
    assert.equal(loadConfig({ env: {}, file: configFile({ autoCreate: false }) }).autoCreate, false);
    assert.equal(loadConfig({ env: { BERTH_AUTO_CREATE: 'true' }, flags: { autoCreate: false } }).autoCreate, false);
  });

  it('refuses a boolean it cannot read', () => {
    assert.throws(() => loadConfig({ env: { BERTH_AUTO_CREATE: 'maybe' } }), configError(/invalid configuration: autoCreate \(BERTH_AUTO_CREATE\) = "maybe": Expected boolean/));
    assert.throws(() => loadConfig({ env: {}, file: configFile({ autoCreate: 'off' }) }), configError(/autoCreate/));
  });

  it('refuses a bad listen address', () => {
    for (const listen of ['localhost', 'host:99999', 'host:123456', 'host:port', 'a:b:1', '']) {
      assert.throws(() => loadConfig({ env: {}, flags: { listen } }), ConfigError, listen);
    }
  });

  it('accepts and trims the base URL, refuses non-http(s) or malformed ones', () => {
    assert.equal(loadConfig({ env: { BERTH_BASE_URL: 'https://registry.example.com//' } }).baseUrl, 'https://registry.example.com');
    assert.equal(loadConfig({ env: { BERTH_BASE_URL: 'http://127.0.0.1:5000/berth/' } }).baseUrl, 'http://127.0.0.1:5000/berth');
    for (const url of ['ftp://example.com', 'registry.example.com', 'not a url', 'javascript:alert(1)']) {
      assert.throws(() => loadConfig({ env: { BERTH_BASE_URL: url } }), configError(/base URL .* is not an http\(s\) URL/), url);
    }
  });

  it('refuses an unknown log level and an empty admin password', () => {
    assert.throws(() => loadConfig({ env: { BERTH_LOG_LEVEL: 'verbose' } }), configError(/logLevel/));
    assert.throws(() => loadConfig({ env: {}, file: configFile({ adminPassword: '' }) }), configError(/adminPassword/));
  });

  it('refuses unknown keys in the file', () => {
    assert.throws(() => loadConfig({ env: {}, file: configFile({ listne: ':5000' }) }), configError(/invalid configuration/));
  });

  it('refuses a missing file or one that is not a JSON object, naming the file', () => {
    const missing = join(dir, 'missing.json');
    assert.throws(() => loadConfig({ env: {}, file: missing }), configError(/cannot read config file .*missing\.json/));
    for (const content of ['{not json', '[1,2]', 'null', '"text"']) {
      assert.throws(() => loadConfig({ env: {}, file: configFile(content) }), configError(/is not valid JSON/), content);
    }
  });

  it('never echoes the admin password in an error', () => {
    try {
      loadConfig({ env: { BERTH_ADMIN_PASSWORD: 's3cret-value', BERTH_LOG_LEVEL: 'loud' } });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.doesNotMatch(err.message, /s3cret-value/);
    }
  });
});

describe('parseListen', () => {
  it('parses host:port, :port and [v6]:port', () => {
    assert.deepEqual(parseListen('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseListen('localhost:5000'), { host: 'localhost', port: 5000 });
    assert.deepEqual(parseListen(':5000'), { host: '127.0.0.1', port: 5000 });
    assert.deepEqual(parseListen('[::1]:5000'), { host: '::1', port: 5000 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('host:65535'), { host: 'host', port: 65535 });
  });

  it('parses a bare port as the port on the default host', () => {
    assert.deepEqual(parseListen('5000'), { host: '127.0.0.1', port: 5000 });
  });

  it('refuses ports over 65535 and addresses without a port', () => {
    for (const listen of ['host:65536', 'host', '[::1]', 'host:']) assert.throws(() => parseListen(listen), ConfigError, listen);
  });
});
