import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../domain/errors.ts';
import { jsonValuesWithin, MAX_JSON_VALUES } from '../domain/json-values.ts';

/**
 * JSON request bodies (the management APIs') are bounded in values as manifests are
 * (json-values.ts), then parsed by Fastify's own parser with its prototype-poisoning checks, as
 * before. Within the 1 MiB body limit, `[],[],...` held the event loop 120-230 ms per request.
 * Scopes that read bodies themselves (/v2) remove it with every other parser.
 */
export function boundJsonBodies(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    if (!jsonValuesWithin(body as Buffer)) {
      done(new RegistryError('PARAMETER_INVALID', `the request body holds more than ${MAX_JSON_VALUES} JSON values`), undefined);
      return;
    }
    parse(req, (body as Buffer).toString('utf8'), done);
  });
}
