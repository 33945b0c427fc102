import { jsonValuesWithin } from './json-values.ts';
import type { Descriptor, Platform } from './manifest.ts';

/**
 * What the management API shows of an image, derived once at push time from the manifest and its
 * config blob and kept in the metadata store.
 */
export interface ImageFacts {
  os: string;
  architecture: string;
  variant?: string;
  /** The config's `created`, as written there. */
  created?: string;
  /** `created_by` of each history entry, oldest first. */
  history: string[];
  labels: Record<string, string>;
  layers: { digest: string; size: number }[];
  /** For an index: its children's platforms, in index order. */
  platforms?: (Platform & { digest: string })[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Facts of an image manifest; never throws (a config that is not an image config gives empty facts). */
export function imageFacts(layers: Descriptor[], config: Uint8Array | undefined): ImageFacts {
  const facts: ImageFacts = { os: '', architecture: '', history: [], labels: {}, layers: layers.map((l) => ({ digest: l.digest, size: l.size })) };
  if (!config || !jsonValuesWithin(config)) return facts; // parsing that many values would stall the event loop
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(config).toString('utf8'));
  } catch {
    return facts;
  }
  if (!isRecord(parsed)) return facts;
  facts.os = str(parsed.os) ?? '';
  facts.architecture = str(parsed.architecture) ?? '';
  const variant = str(parsed.variant);
  if (variant) facts.variant = variant;
  const created = str(parsed.created);
  if (created) facts.created = created;
  if (Array.isArray(parsed.history)) {
    for (const entry of parsed.history) {
      const createdBy = isRecord(entry) ? str(entry.created_by) : undefined;
      if (createdBy !== undefined) facts.history.push(createdBy);
    }
  }
  const labels = isRecord(parsed.config) ? parsed.config.Labels : undefined;
  if (isRecord(labels)) {
    for (const [key, value] of Object.entries(labels)) if (typeof value === 'string') facts.labels[key] = value;
  }
  return facts;
}

/** Facts of an index: the platforms of its children. */
export function indexFacts(manifests: Descriptor[]): ImageFacts {
  const platforms = manifests
    .filter((m) => m.platform)
    .map((m) => ({ ...m.platform!, digest: m.digest }));
  const first = platforms.find((p) => p.os !== 'unknown') ?? platforms[0];
  return { os: first?.os ?? '', architecture: first?.architecture ?? '', history: [], labels: {}, layers: [], platforms };
}
