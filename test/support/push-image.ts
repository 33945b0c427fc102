import { type BuiltImage, type BuiltIndex, MediaTypes, sha256 } from './oci-image-builder.ts';
import type { TestServer } from './test-server.ts';

/** The same image as Docker schema2: Docker media types for manifest, config and layers. */
export function asDockerSchema2(image: BuiltImage): { manifest: Buffer; digest: string; mediaType: string } {
  const parsed = JSON.parse(image.manifest.toString()) as { config: { mediaType: string }; layers: { mediaType: string }[] };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.DockerManifest,
      config: { ...parsed.config, mediaType: MediaTypes.DockerConfig },
      layers: parsed.layers.map((l) => ({ ...l, mediaType: MediaTypes.DockerLayerGzip })),
    }),
  );
  return { manifest, digest: sha256(manifest), mediaType: MediaTypes.DockerManifest };
}

async function expectStatus(res: Response, status: number, what: string): Promise<void> {
  if (res.status !== status) throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
}

/** Pushes blobs monolithically, then the manifest under `reference`; returns the manifest digest. */
export async function pushImage(server: TestServer, name: string, reference: string, image: BuiltImage, options: { docker?: boolean } = {}): Promise<string> {
  for (const blob of [image.config, ...image.layers]) {
    const res = await server.fetch(`/v2/${name}/blobs/uploads/?digest=${blob.digest}`, { method: "POST", body: new Uint8Array(blob.bytes) });
    await expectStatus(res, 201, `blob ${blob.digest}`);
  }
  const { manifest, digest, mediaType } = options.docker ? asDockerSchema2(image) : { manifest: image.manifest, digest: image.digest, mediaType: image.mediaType };
  const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { "content-type": mediaType }, body: new Uint8Array(manifest) });
  await expectStatus(res, 201, `manifest ${reference}`);
  return digest;
}

/** Pushes every child of the index by digest, then the index under `reference`. */
export async function pushIndex(server: TestServer, name: string, reference: string, index: BuiltIndex): Promise<string> {
  for (const child of index.children) await pushImage(server, name, child.digest, child);
  const res = await server.fetch(`/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { "content-type": index.mediaType }, body: new Uint8Array(index.manifest) });
  await expectStatus(res, 201, `index ${reference}`);
  return index.digest;
}
