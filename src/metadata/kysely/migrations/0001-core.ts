import type { Kysely, Migration } from 'kysely';
import { columnTypes, type Dialect } from './column-types.ts';

/** Projects, repos, images, blobs, manifests, tags, uploads, users. */
export function coreMigration(dialect: Dialect): Migration {
  const { id, big, bytes, text } = columnTypes(dialect);
  return {
    async up(db: Kysely<any>): Promise<void> {
      await db.schema
        .createTable('projects')
        .addColumn('name', text, (c) => c.primaryKey())
        .addColumn('display_name', text, (c) => c.notNull())
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('repos')
        .addColumn('project', text, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('type', text, (c) => c.notNull())
        .addColumn('public', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('description', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('repos_pk', ['project', 'name'])
        .execute();
      await db.schema
        .createTable('images')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('project', text, (c) => c.notNull())
        .addColumn('repo', text, (c) => c.notNull())
        .addColumn('image', text, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('images_repo').on('images').columns(['project', 'repo', 'image']).execute();
      await db.schema
        .createTable('blobs')
        .addColumn('digest', text, (c) => c.primaryKey())
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('image_blobs')
        .addColumn('image_id', big, (c) => c.notNull())
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addPrimaryKeyConstraint('image_blobs_pk', ['image_id', 'digest'])
        .execute();
      await db.schema.createIndex('image_blobs_digest').on('image_blobs').column('digest').execute();
      await db.schema
        .createTable('manifests')
        .addColumn('image_id', big, (c) => c.notNull())
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('media_type', text, (c) => c.notNull())
        .addColumn('artifact_type', text)
        .addColumn('size', big, (c) => c.notNull())
        .addColumn('subject', text)
        .addColumn('config_digest', text)
        .addColumn('content', bytes, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('created_by', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('manifests_pk', ['image_id', 'digest'])
        .execute();
      await db.schema.createIndex('manifests_subject').on('manifests').columns(['image_id', 'subject']).execute();
      await db.schema
        .createTable('manifest_refs')
        .addColumn('image_id', big, (c) => c.notNull())
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('ref', text, (c) => c.notNull())
        .addColumn('kind', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('manifest_refs_pk', ['image_id', 'digest', 'ref'])
        .execute();
      await db.schema.createIndex('manifest_refs_ref').on('manifest_refs').column('ref').execute();
      await db.schema
        .createTable('tags')
        .addColumn('image_id', big, (c) => c.notNull())
        .addColumn('name', text, (c) => c.notNull())
        .addColumn('digest', text, (c) => c.notNull())
        .addColumn('stage', text, (c) => c.notNull().defaultTo(''))
        .addColumn('download_count', big, (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('updated_by', text, (c) => c.notNull())
        .addPrimaryKeyConstraint('tags_pk', ['image_id', 'name'])
        .execute();
      await db.schema.createIndex('tags_digest').on('tags').columns(['image_id', 'digest']).execute();
      await db.schema
        .createTable('uploads')
        .addColumn('id', text, (c) => c.primaryKey())
        .addColumn('image_id', big, (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('users')
        .addColumn('id', id, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
        .addColumn('name', text, (c) => c.notNull().unique())
        .addColumn('password_hash', text, (c) => c.notNull())
        .addColumn('admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
    },
  };
}
