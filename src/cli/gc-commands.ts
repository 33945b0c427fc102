import type { Command } from 'commander';
import { gcPolicyOf, openDrivers } from '../app.ts';
import { loadConfig } from '../config/config.ts';
import { Fsck, type FsckReport } from '../registry/gc/fsck.ts';
import { GarbageCollector, type GcPhase, type GcSummary, type LeftoverSummary } from '../registry/gc/garbage-collector.ts';
import type { RegistryDeps } from '../registry/deps.ts';

interface DataOptions {
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
}

/** Human-readable bytes: 1.5 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** One progress line on a terminal (rewritten in place), nothing when stderr is not one. */
function progressLine(): { update(text: string): void; done(): void } {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(text) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(`\r\x1b[2K${text}`);
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[2K');
    },
  };
}

/** Opens the drivers of the data dir (the server should be stopped), runs `fn`, closes them. */
async function withDeps<T>(opts: DataOptions, fn: (deps: RegistryDeps, config: ReturnType<typeof loadConfig>) => Promise<T>): Promise<T> {
  const config = loadConfig({ flags: { dataDir: opts.dataDir, databaseUrl: opts.databaseUrl }, ...(opts.config ? { file: opts.config } : {}) });
  const { metadata, blobs } = await openDrivers(config);
  try {
    return await fn({ metadata, blobs, now: Date.now }, config);
  } finally {
    await blobs.close?.();
    await metadata.close();
  }
}

export function formatGcSummary(s: GcSummary, leftovers?: LeftoverSummary): string {
  const verb = s.dryRun ? 'would free' : 'freed';
  const lines = [
    `${s.dryRun ? 'dry run: ' : ''}${verb} ${s.blobsDeleted} blobs, ${formatBytes(s.bytesFreed)} (${s.bytesFreed} bytes)`,
    `  tags ${s.dryRun ? 'to remove' : 'removed'} by retention rules: ${s.tagsExpired}`,
    `  manifests ${s.dryRun ? 'to remove' : 'removed'}: ${s.manifestsRemoved}`,
    `  blob links ${s.dryRun ? 'to remove' : 'removed'}: ${s.linksRemoved}`,
    `  upload sessions ${s.dryRun ? 'to expire' : 'expired'}: ${s.uploadsExpired}`,
  ];
  if (s.dryRun) for (const t of s.expiredTags) lines.push(`  would remove tag ${t.name}:${t.tag} (${t.digest})`);
  if (s.blobsResumed > 0) lines.push(`  blobs of an interrupted run finished: ${s.blobsResumed}`);
  if (leftovers) lines.push(`  leftovers of interrupted uploads: ${leftovers.stagedUploads} staged uploads, ${leftovers.blobFiles} blob files, ${formatBytes(leftovers.bytes)}`);
  lines.push(`  took ${(s.durationMs / 1000).toFixed(2)} s`);
  return `${lines.join('\n')}\n`;
}

export function formatFsckReport(r: FsckReport): string {
  const lines = [`checked ${r.blobsChecked} blobs (${formatBytes(r.bytesChecked)})`];
  const problems =
    r.missingBlobs.length + r.corruptBlobs.length + r.orphanBlobFiles.length + r.orphanUploads.length + r.brokenRefs.length + r.danglingTags.length + r.orphanRows.links + r.orphanRows.refs;
  for (const d of r.missingBlobs) lines.push(`missing blob: ${d} (recorded, but no bytes)`);
  for (const c of r.corruptBlobs) lines.push(`corrupt blob: ${c.digest}: ${c.reason}`);
  for (const d of r.orphanBlobFiles) lines.push(`orphan bytes: ${d} (no record)`);
  for (const id of r.orphanUploads) lines.push(`orphan staged upload: ${id}`);
  for (const t of r.danglingTags) lines.push(`dangling tag: ${t.image}:${t.tag} -> ${t.digest} (no such manifest)`);
  if (r.orphanRows.links + r.orphanRows.refs > 0) lines.push(`orphan rows: ${r.orphanRows.links} blob links, ${r.orphanRows.refs} manifest references`);
  for (const b of r.brokenRefs) lines.push(`broken manifest: ${b.image}@${b.manifest} references missing ${b.kind} ${b.ref}${r.repaired ? ' (push it again to heal)' : ''}`);
  lines.push(problems === 0 ? 'no problems found' : r.repaired ? `${problems} problems found; repaired all but ${r.brokenRefs.length} broken manifest references` : `${problems} problems found; run with --repair to fix what can be fixed`);
  return `${lines.join('\n')}\n`;
}

const PHASES: Record<GcPhase, string> = {
  resume: 'finishing interrupted deletions',
  retention: 'tag retention',
  manifests: 'untagged manifests',
  links: 'blob links',
  blobs: 'blobs',
  uploads: 'expired uploads',
  leftovers: 'leftovers',
};

export function registerGcCommands(program: Command): void {
  program
    .command('gc')
    .description('collect garbage: unreferenced blobs, expired uploads, leftovers (stop the server first, or let it run GC on its schedule)')
    .option('-c, --config <file>', 'JSON config file (env BERTH_CONFIG)')
    .option('-d, --data-dir <dir>', 'data directory (env BERTH_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'PostgreSQL metadata database (env BERTH_DATABASE_URL)')
    .option('--dry-run', 'report what would be removed, change nothing')
    .action(async (opts: DataOptions & { dryRun?: boolean }) => {
      await withDeps(opts, async (deps, config) => {
        const gc = new GarbageCollector(deps, gcPolicyOf(config));
        const line = progressLine();
        const onProgress = (phase: GcPhase, done: number, bytes: number) => line.update(`gc: ${PHASES[phase]}: ${done}${bytes ? `, ${formatBytes(bytes)}` : ''}`);
        const dryRun = opts.dryRun === true;
        const leftovers = await gc.sweepLeftovers({ dryRun, onProgress });
        const summary = await gc.collect({ dryRun, onProgress });
        line.done();
        process.stdout.write(formatGcSummary(summary, leftovers));
      });
    });
  program
    .command('fsck')
    .description('verify stored blobs (re-hashing them), manifest references and tags; with --repair remove what is broken (stop the server first)')
    .option('-c, --config <file>', 'JSON config file (env BERTH_CONFIG)')
    .option('-d, --data-dir <dir>', 'data directory (env BERTH_DATA_DIR, default ./data)')
    .option('--database-url <url>', 'PostgreSQL metadata database (env BERTH_DATABASE_URL)')
    .option('--repair', 'remove corrupt blobs, dangling rows and tags, orphan bytes and staged uploads')
    .option('--no-verify', 'check presence and size only, do not re-hash')
    .action(async (opts: DataOptions & { repair?: boolean; verify?: boolean }) => {
      const report = await withDeps(opts, async (deps) => {
        const line = progressLine();
        const result = await new Fsck(deps).run({
          repair: opts.repair === true,
          verifyDigests: opts.verify !== false,
          onProgress: (n, bytes) => line.update(`fsck: ${n} blobs, ${formatBytes(bytes)}`),
        });
        line.done();
        return result;
      });
      process.stdout.write(formatFsckReport(report));
      const problems = report.missingBlobs.length + report.corruptBlobs.length + report.brokenRefs.length + report.danglingTags.length;
      if (problems > 0 && !report.repaired) process.exitCode = 2;
    });
}
