// The node's durable state: studies, instances, jobs, results, deliveries, audit log and API tokens in SQLite
// (WAL), and the received files by content under the data folder.
//
// Extending the store (for a feature such as the review UI):
// - Add tables with your own migrations: `Migration { id, up(db) }` with ids in your own range (the node uses
//   0001–0099; the review UI takes 0100–0199). Pass them to `openStore(dataDir, { migrations })`; each runs once,
//   in id order, in its own transaction, recorded in `schema_migrations`. Never edit an applied migration: add
//   one (`ALTER TABLE … ADD COLUMN`, `CREATE INDEX`).
// - Keep the feature's queries in its own repository module taking `SqliteStore.database`; change several tables
//   atomically with `store.transaction(() => …)` (one immediate transaction; nested calls join it).
// - Refer to studies by `study_uid` (TEXT, `studies.study_uid`) and put the pseudonymous `studyKey` — never a
//   patient identifier — into logs and `store.audit(actor, action, studyKey, detail)`.
// - `ServeStore` is what the rest of the node relies on; a method added there is implemented by `SqliteStore`
//   (and by any future server database), so add to it only what the node's core needs.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { BlobStore, type BlobStoreOptions } from './blobs.js';
import { SqliteStore, type SqliteStoreOptions } from './sqlite.js';

export { SqliteStore } from './sqlite.js';
export type { SqliteStoreOptions } from './sqlite.js';
export { BlobStore } from './blobs.js';
export type { BlobStoreOptions, StoredBlob } from './blobs.js';
export { CORE_MIGRATIONS, migrate } from './migrations.js';
export type { Migration } from './migrations.js';
export { JOB_TRANSITIONS } from './types.js';
export type {
  ApiTokenRecord,
  AuditEntry,
  DeliveryKind,
  DeliveryRecord,
  DeliveryState,
  InstanceRecord,
  InstanceStatus,
  JobRecord,
  JobState,
  NewDelivery,
  NewInstance,
  NewResult,
  ReceiveOutcome,
  ResultBox,
  ResultRecord,
  ServeStore,
  StoreCounts,
  StudyContext,
  StudyDecision,
  StudyFilter,
  StudyRecord,
  StudyState,
  TokenScope,
} from './types.js';

/** The SQLite file inside the data folder. */
export const STORE_FILE = 'hipfrac-serve.sqlite';

export interface OpenedStore {
  readonly store: SqliteStore;
  readonly blobs: BlobStore;
}

/** Opens (creating and migrating when needed) the store and the file area of a data folder. */
export function openStore(dataDir: string, options: SqliteStoreOptions & BlobStoreOptions = {}): OpenedStore {
  mkdirSync(dataDir, { recursive: true });
  return { store: new SqliteStore(path.join(dataDir, STORE_FILE), options), blobs: new BlobStore(dataDir, options) };
}
