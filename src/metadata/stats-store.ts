/** Registry-wide totals for operations (metrics): cheap aggregate queries, no per-row work in JS. */
export interface StatsStore {
  /** Blobs stored (not being deleted) and the sum of their sizes in bytes. */
  storedBlobs(): Promise<{ count: number; bytes: number }>;
  /** Upload sessions open in the registry (all nodes), including ones not yet expired by GC. */
  uploadSessions(): Promise<number>;
}
