import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory of Berth's package.json, found by walking up from `from` (default: this
 * module's own file): the same answer from the sources (src/runtime) and from the production
 * bundle (dist/, one file whose depth says nothing about the layout). Undefined when the code
 * runs outside its checkout (a bundle copied elsewhere).
 */
export function packageRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    if (isBerth(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Whether `manifest` is a readable package.json named berth (false when missing or unreadable). */
function isBerth(manifest: string): boolean {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'berth';
  } catch {
    return false;
  }
}
