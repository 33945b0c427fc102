/** 1536 -> "1.5 KiB" (binary units, as registries report sizes). */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** The APIs' dates (`2020-08-28 04:07:12.672Z` or ISO) as a Date; undefined when unparsable. */
export function parseDate(s: string | null | undefined): Date | undefined {
  if (!s) return undefined;
  const d = new Date(s.includes('T') ? s : s.replace(' ', 'T'));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** "2024-05-01 13:45 UTC": absolute, unambiguous, the same for everyone. */
export function absolute(s: string | null | undefined): string {
  const d = parseDate(s);
  return d ? `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC` : '-';
}

/** "5 minutes ago", "3 days ago". */
export function relative(s: string | null | undefined, now = Date.now()): string {
  const d = parseDate(s);
  if (!d) return '-';
  const sec = Math.round((now - d.getTime()) / 1000);
  if (sec < 0) return 'in the future';
  if (sec < 45) return 'just now';
  const steps: [number, string][] = [[60, 'minute'], [3600, 'hour'], [86400, 'day'], [2592000, 'month'], [31536000, 'year']];
  let unit = 'minute';
  let size = 60;
  for (const [s2, name] of steps) {
    if (sec >= s2) {
      unit = name;
      size = s2;
    }
  }
  const v = Math.max(1, Math.round(sec / size));
  return `${v} ${unit}${v === 1 ? '' : 's'} ago`;
}

export function count(n: number): string {
  return new Intl.NumberFormat('en').format(n);
}

export function shortDigest(d: string): string {
  const hex = d.replace(/^sha256(:|__)/, '');
  return `sha256:${hex.slice(0, 12)}`;
}

export function stageLabel(stage: string): string {
  if (stage === '@release') return 'release';
  if (stage === '@prerelease') return 'prerelease';
  return 'none';
}

/** The next stage a tag may move to, or undefined at the end ("" -> @prerelease -> @release). */
export function nextStage(stage: string): '@prerelease' | '@release' | undefined {
  if (stage === '') return '@prerelease';
  if (stage === '@prerelease') return '@release';
  return undefined;
}
