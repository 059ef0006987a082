// The review UI's tables (migration ids 0100–0199): users, sessions, the worklist row of every study (kept in step
// with `studies` and `instances` by triggers, so the node's own code needs no change), versioned verdicts and
// the review settings. Verdicts are only ever inserted: a correction is a new version.
import type { Migration } from '../store/index.js';

/** Priority 0: needs review and not yet read; 1: the rest. Decided by SQL in the triggers below (0100's rule, replaced by 0101). */
const PRIORITY = `CASE WHEN (NEW.decision IS NOT NULL AND NEW.decision != 'auto-report') OR audit_sample = 1 THEN 0 ELSE 1 END`;

/**
 * The node's study decisions (src/serve/results/decideStudy.ts) that were reported without a radiologist. Every
 * other decision ('radiologist-review', 'not-processed', or one this version does not know) goes to the review queue.
 */
const AUTO_REPORTED = `('fracture-suspected', 'no-fracture')`;
const PRIORITY_0101 = `CASE WHEN (NEW.decision IS NOT NULL AND NEW.decision NOT IN ${AUTO_REPORTED}) OR audit_sample = 1 THEN 0 ELSE 1 END`;

/**
 * The trigger that follows a study's decision into its worklist row: draws an auto-reported case for the audit
 * sample (`autoReported`: SQL true for such a decision) and sets the row's priority (`priority`: SQL CASE).
 */
const studyDecidedTrigger = (autoReported: string, priority: string): string => `
        CREATE TRIGGER review_study_decided AFTER UPDATE OF decision, fracture_probability ON studies BEGIN
          UPDATE review_cases SET
            audit_sample = CASE WHEN audit_sample = 1 THEN 1
              WHEN ${autoReported} AND state != 'read'
                AND (abs(random()) % 10000) < CAST(100 * (SELECT CAST(value AS REAL) FROM review_settings WHERE key = 'audit_percent') AS INTEGER) THEN 1
              ELSE 0 END
          WHERE study_uid = NEW.study_uid;
          UPDATE review_cases SET decision = NEW.decision, probability = NEW.fracture_probability,
            priority = CASE WHEN state = 'read' THEN 1 ELSE ${priority} END,
            seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM review_cases)
          WHERE study_uid = NEW.study_uid;
        END;`;

export const REVIEW_MIGRATIONS: readonly Migration[] = [
  {
    id: '0100_review',
    up(db) {
      db.exec(`
        CREATE TABLE review_users (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          name TEXT NOT NULL UNIQUE,
          role TEXT NOT NULL CHECK (role IN ('radiologist', 'admin', 'viewer')),
          password_hash TEXT NOT NULL,
          failed_count INTEGER NOT NULL DEFAULT 0,
          locked_until TEXT,
          created_at TEXT NOT NULL,
          disabled_at TEXT
        );
        CREATE TABLE review_sessions (
          id_sha256 TEXT PRIMARY KEY,
          user_id INTEGER NOT NULL REFERENCES review_users(id),
          csrf TEXT NOT NULL,
          created_at TEXT NOT NULL,
          last_seen_at TEXT NOT NULL,
          ended_at TEXT
        );
        CREATE INDEX review_sessions_user ON review_sessions(user_id);
        CREATE TABLE review_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO review_settings (key, value) VALUES ('audit_percent', '0');
        CREATE TABLE review_cases (
          study_uid TEXT PRIMARY KEY,
          study_key TEXT NOT NULL UNIQUE,
          arrival TEXT NOT NULL,
          decision TEXT,
          probability REAL,
          images INTEGER NOT NULL DEFAULT 0,
          views TEXT NOT NULL DEFAULT '',
          audit_sample INTEGER NOT NULL DEFAULT 0,
          priority INTEGER NOT NULL DEFAULT 1,
          state TEXT NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'in-review', 'read')),
          opened_by TEXT NOT NULL DEFAULT '',
          readers INTEGER NOT NULL DEFAULT 0,
          seq INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX review_cases_order ON review_cases(priority, arrival DESC, study_uid);
        CREATE INDEX review_cases_state ON review_cases(state, priority, arrival DESC, study_uid);
        CREATE INDEX review_cases_decision ON review_cases(decision, priority, arrival DESC, study_uid);
        CREATE INDEX review_cases_seq ON review_cases(seq);
        CREATE TABLE review_verdicts (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          study_uid TEXT NOT NULL REFERENCES review_cases(study_uid),
          user_id INTEGER NOT NULL REFERENCES review_users(id),
          user_name TEXT NOT NULL,
          version INTEGER NOT NULL,
          verdict TEXT NOT NULL CHECK (verdict IN ('fracture', 'no-fracture', 'not-assessable')),
          sop_uid TEXT NOT NULL DEFAULT '',
          x0 REAL, y0 REAL, x1 REAL, y1 REAL,
          comment TEXT NOT NULL DEFAULT '',
          changes TEXT NOT NULL DEFAULT '',
          blinded INTEGER NOT NULL DEFAULT 0,
          created_at TEXT NOT NULL,
          UNIQUE (study_uid, user_id, version)
        );
        CREATE INDEX review_verdicts_study ON review_verdicts(study_uid, id);
        CREATE TRIGGER review_verdicts_no_update BEFORE UPDATE ON review_verdicts BEGIN SELECT RAISE(ABORT, 'verdicts are never overwritten: add a version'); END;
        CREATE TRIGGER review_verdicts_no_delete BEFORE DELETE ON review_verdicts BEGIN SELECT RAISE(ABORT, 'verdicts are never deleted'); END;

        CREATE TRIGGER review_study_insert AFTER INSERT ON studies BEGIN
          INSERT INTO review_cases (study_uid, study_key, arrival, decision, probability, seq)
          VALUES (NEW.study_uid, NEW.study_key, NEW.first_received_at, NEW.decision, NEW.fracture_probability,
                  (SELECT COALESCE(MAX(seq), 0) + 1 FROM review_cases));
        END;
        ${studyDecidedTrigger(`NEW.decision = 'auto-report'`, PRIORITY)}
        CREATE TRIGGER review_instance_insert AFTER INSERT ON instances BEGIN
          UPDATE review_cases SET images = images + 1, views = '', seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM review_cases)
          WHERE study_uid = NEW.study_uid;
        END;
      `);
      // Studies stored before the review UI was installed.
      db.exec(`
        INSERT INTO review_cases (study_uid, study_key, arrival, decision, probability, images, priority, seq)
        SELECT s.study_uid, s.study_key, s.first_received_at, s.decision, s.fracture_probability,
               (SELECT COUNT(*) FROM instances i WHERE i.study_uid = s.study_uid),
               CASE WHEN s.decision IS NOT NULL AND s.decision != 'auto-report' THEN 0 ELSE 1 END, 1
        FROM studies s WHERE true ON CONFLICT (study_uid) DO NOTHING;
      `);
    },
  },
  {
    // 0100 took 'auto-report' for the study decision, a per-image word: with the node's study decisions every
    // decided study landed in the review queue and none was ever drawn for the audit sample. Same trigger, the
    // node's words; unread cases are re-sorted.
    id: '0101_review_node_decisions',
    up(db) {
      db.exec(`
        DROP TRIGGER review_study_decided;
        ${studyDecidedTrigger(`NEW.decision IN ${AUTO_REPORTED}`, PRIORITY_0101)}
        UPDATE review_cases SET priority = CASE WHEN state = 'read' THEN 1
            WHEN (decision IS NOT NULL AND decision NOT IN ${AUTO_REPORTED}) OR audit_sample = 1 THEN 0 ELSE 1 END;
      `);
    },
  },
];
