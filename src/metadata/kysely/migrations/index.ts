import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { coreMigration } from './0001-core.ts';
import { authMigration } from './0002-auth.ts';
import { imageDetailsMigration } from './0003-image-details.ts';
import { gcMigration } from './0004-gc.ts';
import { quotasRetentionMigration } from './0005-quotas-retention.ts';
import { credentialChangesMigration } from './0006-credential-changes.ts';
import type { Dialect } from './column-types.ts';

export type { Dialect } from './column-types.ts';

/** Every migration in order; a new one gets the next number and a file of its own. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    '0001_core': coreMigration(dialect),
    '0002_auth': authMigration(dialect),
    '0003_image_details': imageDetailsMigration(dialect),
    '0004_gc': gcMigration(dialect),
    '0005_quotas_retention': quotasRetentionMigration(dialect),
    '0006_credential_changes': credentialChangesMigration(dialect),
  };
}

class CodeMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

/** Brings the schema up to date; throws with the failing migration's name and error. */
export async function migrateToLatest(db: Kysely<any>, dialect: Dialect): Promise<void> {
  const migrator = new Migrator({ db, provider: new CodeMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`database migration ${failed} failed: ${String((error as Error).message ?? error)}`, { cause: error });
  }
}
