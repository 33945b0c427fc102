import type { BerthMetrics } from './metrics.ts';
import type { AuthServices } from '../auth/auth-services.ts';
import type { Authenticator, Authorizer } from '../auth/principal.ts';
import type { DownloadCounter } from '../events/download-counter.ts';
import type { Blobs } from '../registry/blobs.ts';
import type { ImageBrowser } from '../registry/image-browser.ts';
import type { ProjectAdmin } from '../registry/project-admin.ts';
import type { Listings } from '../registry/listings.ts';
import type { Manifests } from '../registry/manifests.ts';
import type { Uploads } from '../registry/uploads.ts';

/** What the HTTP edge calls: use cases and the auth pipeline, never drivers. */
export interface HttpServices {
  readonly blobs: Blobs;
  readonly uploads: Uploads;
  readonly manifests: Manifests;
  readonly listings: Listings;
  readonly images: ImageBrowser;
  readonly downloads: DownloadCounter;
  readonly projectAdmin: ProjectAdmin;
  readonly authenticator: Authenticator;
  readonly authorizer: Authorizer;
  /** Token service, account administration and the audit trail (src/auth). */
  readonly auth: AuthServices;
  /** Readiness: database and storage reachable. */
  readonly ready: () => Promise<void>;
  /** Prometheus metrics; /metrics is served when set. */
  readonly metrics?: BerthMetrics;
  readonly options: {
    /** Externally visible URL without trailing slash; undefined for relative Locations. */
    readonly baseUrl: string | undefined;
    /** Slow-loris and stalled-body guards, in ms; defaults 30 s and 5 min when unset. */
    readonly headersTimeoutMs?: number;
    readonly idleTimeoutMs?: number;
  };
}
