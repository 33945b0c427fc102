/**
 * The process settings of `npm start` (package.json's `start` script, `VAR=value ... node
 * --flag ... ENTRY serve`), so that the benchmark and the production-build test start Berth as it
 * is started for real instead of restating them. Why each setting is there: docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface StartSettings {
  /** Environment variables set before `node`. */
  env: Record<string, string>;
  /** Node's own flags, between `node` and the entry script. */
  nodeFlags: string[];
}

/** Reads `root`'s package.json; throws when `start` no longer has the shape above. */
export function startSettings(root: string): StartSettings {
  const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
  const words = script.trim().split(/\s+/);
  const env: Record<string, string> = {};
  let i = 0;
  for (let m; i < words.length && (m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(words[i]!)); i++) env[m[1]!] = m[2]!;
  if (words[i++] !== 'node') throw new Error(`package.json's start script does not run node: ${script}`);
  const nodeFlags: string[] = [];
  while (i < words.length && words[i]!.startsWith('-')) nodeFlags.push(words[i++]!);
  if (i === words.length) throw new Error(`package.json's start script names no entry: ${script}`);
  return { env, nodeFlags };
}
