// Numbered schema migrations. Each runs once, in id order, inside its own transaction; applied ids are kept in
// `schema_migrations`, so migrations from several features (the node's core tables, the review UI's users and
// verdicts, …) live side by side without renumbering each other.
import type { SqliteDatabase } from 'better-sqlite3';

export interface Migration {
  /** Sortable id, e.g. '0001_core'. Features take their own range: 0001–0099 the node, 0100–0199 the review UI. */
  readonly id: string;
  /** Applies the change (CREATE TABLE, ALTER TABLE ADD COLUMN, CREATE INDEX …); never edits an applied migration. */
  up(db: SqliteDatabase): void;
}

/** The DICOM node's tables. */
export const CORE_MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_core',
    up(db) {
      db.exec(`
        CREATE TABLE studies (
          study_uid TEXT PRIMARY KEY,
          study_key TEXT NOT NULL UNIQUE,
          patient_id TEXT NOT NULL,
          patient_name TEXT NOT NULL,
          accession_number TEXT NOT NULL,
          study_date TEXT NOT NULL,
          state TEXT NOT NULL,
          first_received_at TEXT NOT NULL,
          last_received_at TEXT NOT NULL,
          decision TEXT,
          reason TEXT,
          fracture_probability REAL,
          decided_at TEXT,
          revision INTEGER NOT NULL DEFAULT 0,
          decided_revision INTEGER NOT NULL DEFAULT -1
        );
        CREATE INDEX studies_state ON studies(state);
        CREATE INDEX studies_decision ON studies(decision);
        CREATE TABLE instances (
          sop_uid TEXT PRIMARY KEY,
          sop_class_uid TEXT NOT NULL,
          study_uid TEXT NOT NULL REFERENCES studies(study_uid),
          series_uid TEXT NOT NULL,
          transfer_syntax_uid TEXT NOT NULL,
          sha256 TEXT NOT NULL,
          file TEXT NOT NULL,
          bytes INTEGER NOT NULL,
          status TEXT NOT NULL,
          reason TEXT NOT NULL,
          source TEXT NOT NULL,
          received_at TEXT NOT NULL,
          receive_count INTEGER NOT NULL DEFAULT 1
        );
        CREATE INDEX instances_study ON instances(study_uid);
        CREATE TABLE jobs (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          sop_uid TEXT NOT NULL UNIQUE REFERENCES instances(sop_uid),
          study_uid TEXT NOT NULL,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          error TEXT NOT NULL DEFAULT '',
          created_at TEXT NOT NULL,
          updated_at TEXT NOT NULL
        );
        CREATE INDEX jobs_state ON jobs(state, id);
        CREATE INDEX jobs_study ON jobs(study_uid);
        CREATE TABLE results (
          sop_uid TEXT PRIMARY KEY REFERENCES instances(sop_uid),
          study_uid TEXT NOT NULL,
          decision TEXT NOT NULL,
          fracture_probability REAL,
          predicted TEXT NOT NULL,
          confidence REAL,
          level TEXT NOT NULL,
          reason TEXT NOT NULL,
          heatmap TEXT NOT NULL,
          created_at TEXT NOT NULL
        );
        CREATE INDEX results_study ON results(study_uid);
        CREATE TABLE deliveries (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          study_uid TEXT NOT NULL,
          kind TEXT NOT NULL,
          sop_uid TEXT NOT NULL,
          destination TEXT NOT NULL,
          file TEXT NOT NULL,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          next_attempt_at TEXT NOT NULL,
          last_error TEXT NOT NULL DEFAULT '',
          sent_at TEXT,
          UNIQUE (sop_uid, destination)
        );
        CREATE INDEX deliveries_due ON deliveries(state, next_attempt_at);
        CREATE INDEX deliveries_study ON deliveries(study_uid);
        CREATE TABLE audit_log (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at TEXT NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          study_key TEXT NOT NULL,
          detail TEXT NOT NULL
        );
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE api_tokens (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          secret_sha256 TEXT NOT NULL,
          scopes TEXT NOT NULL,
          created_at TEXT NOT NULL,
          revoked_at TEXT,
          last_used_at TEXT
        );
      `);
    },
  },
  {
    // Box supervision: the box head's fracture boxes per result (JSON, source pixels; NULL when none were computed)
    // and the origin of the region the model saw, to draw them on the Secondary Capture of a cropped image.
    id: '0002_result_boxes',
    up(db) {
      db.exec(`
        ALTER TABLE results ADD COLUMN boxes TEXT;
        ALTER TABLE results ADD COLUMN region_x REAL NOT NULL DEFAULT 0;
        ALTER TABLE results ADD COLUMN region_y REAL NOT NULL DEFAULT 0;
      `);
    },
  },
  {
    // The undecided studies by last image received: what the study decider looks up on every pass. Without it each
    // pass read every study the node ever kept (about 2 ms per pass with 50,000 studies here, growing with the store).
    id: '0003_undecided_studies',
    up(db) {
      db.exec('CREATE INDEX studies_undecided ON studies(last_received_at) WHERE decided_revision < revision');
    },
  },
  {
    // GET /v1/studies lists the newest studies first, optionally of one state or decision: with these indexes it reads
    // one page in order and stops. Before, every matching study was read, counted and sorted for each call (about
    // 1.2 ms with 3,000 studies here, growing with the store, for a monitor polling the list). The indexes on state
    // and decision alone are their prefixes.
    id: '0004_studies_by_recency',
    up(db) {
      db.exec(`
        CREATE INDEX studies_recent ON studies(last_received_at DESC, study_uid);
        CREATE INDEX studies_state_recent ON studies(state, last_received_at DESC, study_uid);
        CREATE INDEX studies_decision_recent ON studies(decision, last_received_at DESC, study_uid);
        DROP INDEX studies_state;
        DROP INDEX studies_decision;
      `);
    },
  },
];

/** Applies the migrations not yet recorded, in id order; returns the ids applied now. Ids must be unique. */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[]): string[] {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at TEXT NOT NULL)');
  const seen = new Set<string>();
  for (const m of migrations) {
    if (seen.has(m.id)) throw new Error(`duplicate migration id '${m.id}'`);
    seen.add(m.id);
  }
  const applied = new Set(db.prepare<{ id: string }>('SELECT id FROM schema_migrations').all().map((r) => r.id));
  const pending = [...migrations].filter((m) => !applied.has(m.id)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const record = db.prepare('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)');
  for (const m of pending) {
    db.transaction(() => {
      m.up(db);
      record.run(m.id, new Date().toISOString());
    }).immediate();
  }
  db.pragma(`user_version = ${applied.size + pending.length}`);
  return pending.map((m) => m.id);
}
