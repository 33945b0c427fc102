/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [top]`: where a `--cpu-prof`
 * profile's time went, as self time per function and per package/file, plus inclusive time of
 * the heaviest functions (a text flame graph for a terminal).
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary FILE.cpuprofile [top]');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

const where = (n: Node): string => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1];
  if (pkg) return pkg;
  if (url === '') return `(${n.callFrame.functionName || 'native'})`;
  if (url.startsWith('node:')) return url;
  return url.replace(/^.*\/(src|bench|\.tmp)\//, '$1/');
};
const label = (n: Node): string => `${n.callFrame.functionName || '(anonymous)'} ${where(n)}:${n.callFrame.lineNumber + 1}`;

function table(title: string, m: Map<string, number>): void {
  console.log(`\n${title}`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((100 * v) / total).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(0).padStart(7)} ms  ${k}`);
  }
}

const selfByFn = new Map<string, number>();
const selfByWhere = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  selfByFn.set(label(n), (selfByFn.get(label(n)) ?? 0) + us);
  selfByWhere.set(where(n), (selfByWhere.get(where(n)) ?? 0) + us);
}

// Inclusive time: each node's self time plus its subtree's, attributed once per function per stack.
const inclusive = new Map<string, number>();
function walk(id: number, onStack: Set<string>): number {
  const n = byId.get(id)!;
  let sum = selfUs.get(id) ?? 0;
  const key = label(n);
  const fresh = !onStack.has(key);
  if (fresh) onStack.add(key);
  for (const c of n.children ?? []) sum += walk(c, onStack);
  if (fresh) {
    onStack.delete(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + sum);
  }
  return sum;
}
walk(profile.nodes[0]!.id, new Set());

console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
table('self time by package / file', selfByWhere);
table('self time by function', selfByFn);
table('inclusive time by function', inclusive);
