/**
 * The production build of the server: src/main.ts and the packages it uses bundled by esbuild
 * into `dist/` (main.js and the chunks of what is imported lazily), what `npm start`,
 * `bin/berth.js` and the benchmark run.
 *
 *   node --import tsx scripts/bundle.ts [OUTDIR]   (default: dist/ of this checkout)
 *
 * One ES module instead of about 900 (Fastify, Kysely, TypeBox, pino, ...), whitespace and
 * comments removed, names kept (stack traces stay readable; dist/*.map maps them back to src/):
 * a fresh server's live V8 heap went from 18.8 to 13.9 MiB, mostly module source text and the
 * per-module wrappers of CommonJS packages.
 *
 * Left outside the bundle: the native addons (better-sqlite3, @node-rs/argon2), which load
 * their compiled part from their own directories, and the scale-out drivers (pg, the AWS SDK),
 * which src/ imports dynamically only when configured: bundled, they would be parsed at every
 * start (--splitting keeps src/'s own dynamic imports as separate chunks, loaded on first use).
 */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

export const EXTERNAL_PACKAGES = ['better-sqlite3', '@node-rs/argon2', 'pg', '@aws-sdk/*'];

/** Bundles `root`'s src/main.ts into `outdir` (emptied first); returns the entry's path. */
export async function bundle(root: string, outdir: string): Promise<string> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    absWorkingDir: root,
    entryPoints: [join(root, 'src', 'main.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: EXTERNAL_PACKAGES,
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    // CommonJS packages inside an ES module bundle call require() for Node's built-ins.
    banner: { js: 'import { createRequire as berthCreateRequire } from "node:module"; const require = berthCreateRequire(import.meta.url);' },
  });
  return join(outdir, 'main.js');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(import.meta.dirname, '..');
  const entry = await bundle(root, resolve(process.argv[2] ?? join(root, 'dist')));
  console.log(`bundled ${entry}`);
}
