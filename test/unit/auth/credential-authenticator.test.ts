import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditTrail } from '../../../src/auth/audit-trail.ts';
import { CREDENTIAL_CHECK_MS, CredentialAuthenticator, REFRESH_AHEAD_MS, type CredentialAuthenticatorDeps } from '../../../src/auth/credential-authenticator.ts';
import { LoginThrottle } from '../../../src/auth/login-throttle.ts';
import { hashPassword, verifyPassword } from '../../../src/auth/passwords.ts';
import type { TokenService } from '../../../src/auth/token-service.ts';
import type { UserRecord } from '../../../src/metadata/metadata-store.ts';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function setup() {
  const user: UserRecord = { id: 1, name: 'alice', passwordHash: await hashPassword('right-password'), admin: false, disabled: false, createdAt: 0 };
  const lookups: string[] = [];
  const audit: string[] = [];
  const throttle = new LoginThrottle({ maxFailuresPerUser: 100, maxFailuresPerAddress: 500, windowMs: 60_000 });
  const failures: string[] = [];
  const recordFailure = throttle.recordFailure.bind(throttle);
  throttle.recordFailure = (name, ip) => {
    failures.push(name);
    recordFailure(name, ip);
  };
  const clock = { now: Date.now(), version: 0, versionReads: 0 };
  const deps = {
    credentialChanges: {
      version: async () => {
        clock.versionReads++;
        return clock.version;
      },
    },
    users: {
      getByName: async (name: string) => {
        lookups.push(name);
        return name === user.name ? user : undefined;
      },
    },
    tokens: {},
    serviceAccounts: {},
    tokenService: {} as TokenService,
    throttle,
    audit: { record: async (e: { action: string }) => void audit.push(e.action) } as unknown as AuditTrail,
    now: () => clock.now,
  } as unknown as CredentialAuthenticatorDeps;
  return { authenticator: new CredentialAuthenticator(deps), user, clock, lookups, audit, failures };
}

describe('CredentialAuthenticator', () => {
  it('verifies a header sent on many connections at once only once', async () => {
    const { authenticator, lookups, audit } = await setup();
    const principals = await Promise.all(Array.from({ length: 8 }, () => authenticator.authenticate(basic('alice', 'right-password'), { ip: '10.0.0.1' })));
    for (const p of principals) assert.equal(p?.name, 'alice');
    assert.deepEqual(lookups, ['alice']);
    assert.deepEqual(audit, ['login']);
  });

  it('does not share a failure: each request is checked and counted for itself', async () => {
    const { authenticator, failures, audit } = await setup();
    const results = await Promise.allSettled(Array.from({ length: 3 }, () => authenticator.authenticate(basic('alice', 'wrong'), { ip: '10.0.0.2' })));
    for (const r of results) assert.equal(r.status, 'rejected');
    assert.deepEqual(failures, ['alice', 'alice', 'alice']);
    assert.deepEqual(audit, ['login.failed', 'login.failed', 'login.failed']);
    assert.equal((await authenticator.authenticate(basic('alice', 'right-password'), { ip: '10.0.0.2' }))?.name, 'alice');
  });
});

describe('CredentialAuthenticator and changes made elsewhere', () => {
  it('verifies again once the credential change counter moved, within CREDENTIAL_CHECK_MS', async () => {
    const { authenticator, user, clock, lookups } = await setup();
    const header = basic('alice', 'right-password');
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.3' }))?.name, 'alice');
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.3' }))?.name, 'alice');
    assert.deepEqual(lookups, ['alice'], 'the second request was answered from the cache');
    assert.equal(clock.versionReads, 1);

    // Another node disables alice: the counter moves. Within the check interval the cache holds.
    user.disabled = true;
    clock.version++;
    clock.now += CREDENTIAL_CHECK_MS - 1;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.3' }))?.name, 'alice');
    assert.equal(clock.versionReads, 1);
    // Past it, the counter is read again and the entry, made under the old count, is not used.
    clock.now += 1;
    await assert.rejects(authenticator.authenticate(header, { ip: '10.0.0.3' }), /invalid username or password/);
    assert.equal(clock.versionReads, 2);
    assert.deepEqual(lookups, ['alice', 'alice']);
  });

  it('keeps serving from the cache while the counter stands still, reading it once per interval', async () => {
    const { authenticator, clock, lookups } = await setup();
    const header = basic('alice', 'right-password');
    for (let i = 0; i < 5; i++) {
      assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.4' }))?.name, 'alice');
      clock.now += CREDENTIAL_CHECK_MS;
    }
    assert.deepEqual(lookups, ['alice']);
    assert.equal(clock.versionReads, 5);
  });
});

describe('CredentialAuthenticator near the end of a cached verification', () => {
  const TTL_MS = 60_000;
  /** Waits (in real time) until `done` holds: the background verification runs a real KDF. */
  async function until(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.ok(done(), 'timed out');
  }

  it('verifies again in the background, once, so no request waits when the entry runs out', async () => {
    const { authenticator, clock, lookups, audit } = await setup();
    const header = basic('alice', 'right-password');
    const start = clock.now;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.5' }))?.name, 'alice');
    clock.now = start + TTL_MS - REFRESH_AHEAD_MS - 1;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.5' }))?.name, 'alice');
    assert.deepEqual(lookups, ['alice'], 'not yet in the refresh window');
    clock.now = start + TTL_MS - REFRESH_AHEAD_MS;
    for (let i = 0; i < 3; i++) assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.5' }))?.name, 'alice');
    await until(() => audit.length === 2);
    assert.deepEqual(lookups, ['alice', 'alice'], 'one background verification for the three hits');
    // Past the first entry's end the refreshed one answers: no verification in the request.
    clock.now = start + TTL_MS + 1;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.5' }))?.name, 'alice');
    assert.deepEqual(lookups, ['alice', 'alice']);
  });

  it('lets the entry run out when the background verification fails, and then refuses', async () => {
    const { authenticator, user, clock, failures } = await setup();
    const header = basic('alice', 'right-password');
    const start = clock.now;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.6' }))?.name, 'alice');
    user.passwordHash = await hashPassword('another-password'); // changed with no counter move: only a verification sees it
    clock.now = start + TTL_MS - 1;
    assert.equal((await authenticator.authenticate(header, { ip: '10.0.0.6' }))?.name, 'alice', 'the entry still holds');
    await until(() => failures.length === 1);
    clock.now = start + TTL_MS;
    await assert.rejects(authenticator.authenticate(header, { ip: '10.0.0.6' }), /invalid username or password/);
  });
});

describe('passwords', () => {
  it('gives every concurrent check its own answer, malformed hashes included, and frees its slots', async () => {
    const good = await hashPassword('pw');
    const checks = [
      ...Array.from({ length: 4 }, () => verifyPassword(good, 'pw')),
      ...Array.from({ length: 3 }, () => verifyPassword('not-a-hash', 'pw')),
      ...Array.from({ length: 3 }, () => verifyPassword(good, 'other')),
    ];
    assert.deepEqual(await Promise.all(checks), [true, true, true, true, false, false, false, false, false, false]);
    assert.equal(await verifyPassword(good, 'pw'), true);
  });
});
