import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const digest = `sha256:${'a'.repeat(64)}`;

describe('the challenge of a cross-repository mount', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  it('names push on the target and pull on the source', async () => {
    const res = await server.fetch(`/v2/demo/docker/target/blobs/uploads/?mount=${digest}&from=demo/docker/source`, { method: 'POST', headers: { authorization: '' } });
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /scope="repository:demo\/docker\/target:pull,push repository:demo\/docker\/source:pull"/);
  });

  it('names only the target when `from` is not a repository name', async () => {
    const res = await server.fetch(`/v2/demo/docker/target/blobs/uploads/?mount=${digest}&from=..%2Fetc`, { method: 'POST', headers: { authorization: '' } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /scope="repository:demo\/docker\/target:pull,push"/);
  });
});
