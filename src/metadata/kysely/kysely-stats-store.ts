import type { Kysely } from 'kysely';
import type { StatsStore } from '../stats-store.ts';
import type { Database } from './schema.ts';

export class KyselyStatsStore implements StatsStore {
  constructor(private readonly db: Kysely<Database>) {}

  async storedBlobs(): Promise<{ count: number; bytes: number }> {
    const row = await this.db
      .selectFrom('blobs')
      .where('deleting', '=', 0)
      .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.coalesce(eb.fn.sum<number>('size'), eb.val(0)).as('bytes')])
      .executeTakeFirstOrThrow();
    return { count: Number(row.n), bytes: Number(row.bytes) };
  }

  async uploadSessions(): Promise<number> {
    const row = await this.db.selectFrom('uploads').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
