import type { Digest } from '../domain/digest.ts';
import { RegistryError } from '../domain/errors.ts';
import type { ImageRecord } from '../metadata/metadata-store.ts';
import type { RegistryDeps } from './deps.ts';

/**
 * Immutable tags: in a repo with `immutableTags`, a tag once pushed stays where it points.
 * Moving it is refused by the manifest put itself (atomically, in the store); deletions are
 * refused here: of a tag, of a manifest that tags point at, of an image that has tags.
 */
export async function assertMayRemoveTags(deps: RegistryDeps, image: ImageRecord, what: { tag: string } | { digest: Digest } | { image: true }): Promise<void> {
  const repo = await deps.metadata.namespaces.getRepo(image.project, image.repo);
  if (!repo?.immutableTags) return;
  let tags: string[];
  if ('tag' in what) tags = [what.tag];
  else if ('digest' in what) tags = await deps.metadata.manifests.tagsOf(image.id, what.digest);
  else tags = await deps.metadata.manifests.listTags(image.id, { limit: 1 });
  if (tags.length === 0) return;
  const subject = 'tag' in what ? `tag "${what.tag}"` : 'digest' in what ? `manifest ${what.digest} (tagged ${tags.slice(0, 5).join(', ')})` : `image ${image.name} (it has tags)`;
  throw new RegistryError(
    'DENIED',
    `repo "${image.project}/${image.repo}" has immutable tags: ${subject} cannot be deleted; a project admin can turn immutableTags off first`,
    { immutable: true, tags: tags.slice(0, 20) },
  );
}
