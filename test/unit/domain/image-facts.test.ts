import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { digestOf } from '../../../src/domain/digest.ts';
import { imageFacts } from '../../../src/domain/image-facts.ts';
import { MAX_JSON_VALUES } from '../../../src/domain/json-values.ts';

const layers = [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(Buffer.from('layer')), size: 11 }];
const config = (over: Record<string, unknown> = {}) => Buffer.from(JSON.stringify({ os: 'linux', architecture: 'arm64', history: [{ created_by: 'RUN make' }], config: { Labels: { team: 'infra' } }, ...over }));

describe('imageFacts', () => {
  it("reads the platform, history and labels of an image config", () => {
    const facts = imageFacts(layers, config());
    assert.deepEqual(
      { os: facts.os, architecture: facts.architecture, history: facts.history, labels: facts.labels, layers: facts.layers },
      { os: 'linux', architecture: 'arm64', history: ['RUN make'], labels: { team: 'infra' }, layers: [{ digest: layers[0]!.digest, size: 11 }] },
    );
  });

  it('leaves a config of more JSON values than MAX_JSON_VALUES unparsed: the layers only', () => {
    const facts = imageFacts(layers, config({ env: Array(MAX_JSON_VALUES).fill(0) }));
    assert.deepEqual(facts, { os: '', architecture: '', history: [], labels: {}, layers: [{ digest: layers[0]!.digest, size: 11 }] });
    assert.equal(imageFacts(layers, config({ env: Array(1000).fill(0) })).os, 'linux');
  });
});
