import { stageLabel } from '../format.ts';

export function StageBadge({ stage }: { stage: string }) {
  const cls = stage === '@release' ? 'badge badge-release' : stage === '@prerelease' ? 'badge badge-pre' : 'badge';
  return <span class={cls} data-stage={stage}>{stageLabel(stage)}</span>;
}
