// The review UI's vocabulary: roles, case states, verdicts, worklist rows.

export const ROLES = ['radiologist', 'admin', 'viewer'] as const;
/** radiologist: reads and gives verdicts; admin: also sets the audit sample; viewer: sees the worklist and images only. */
export type Role = (typeof ROLES)[number];

export const VERDICTS = ['fracture', 'no-fracture', 'not-assessable'] as const;
export type Verdict = (typeof VERDICTS)[number];

/** new: nobody has opened it; in-review: a radiologist opened it; read: at least one verdict. */
export type CaseState = 'new' | 'in-review' | 'read';

/** What each role may do. */
export const PERMISSIONS: Readonly<Record<Role, { readonly identifiers: boolean; readonly verdicts: boolean; readonly dashboard: boolean; readonly settings: boolean }>> = {
  radiologist: { identifiers: true, verdicts: true, dashboard: true, settings: false },
  admin: { identifiers: true, verdicts: true, dashboard: true, settings: true },
  viewer: { identifiers: false, verdicts: false, dashboard: false, settings: false },
};

export interface ReviewUser {
  readonly id: number;
  readonly name: string;
  readonly role: Role;
  readonly failedCount: number;
  readonly lockedUntil: string | null;
  readonly createdAt: string;
  readonly disabled: boolean;
}

export interface SessionRecord {
  readonly idSha256: string;
  readonly csrf: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly ended: boolean;
  readonly user: ReviewUser;
}

export interface ReviewCase {
  readonly studyInstanceUid: string;
  readonly studyKey: string;
  /** Shown only to roles allowed to see identifiers. */
  readonly accessionNumber: string;
  readonly arrival: string;
  readonly decision: string | null;
  readonly probability: number | null;
  readonly reason: string | null;
  readonly images: number;
  readonly views: string;
  /** An auto-reported case drawn for blinded review. */
  readonly auditSample: boolean;
  /** 0: needs review and not read yet; 1: the rest. */
  readonly priority: number;
  readonly state: CaseState;
  readonly readers: number;
  readonly seq: number;
}

export type WorklistRow = ReviewCase;

export interface WorklistFilter {
  readonly state?: CaseState;
  readonly decision?: string;
  /** review: cases needing review; rest: the others. */
  readonly queue?: 'review' | 'rest';
  /** Opaque keyset cursor from the previous page's `next`. */
  readonly after?: string;
  readonly limit?: number;
}

export interface WorklistPage {
  readonly rows: readonly WorklistRow[];
  readonly total: number;
  readonly next: string | null;
  readonly seq: number;
}

/** A location on one image as fractions of its width and height: [x0, y0, x1, y1]; a click has x0 = x1, y0 = y1. */
export type Box = readonly [number, number, number, number];

export interface VerdictInput {
  readonly verdict: Verdict;
  readonly sopInstanceUid?: string;
  readonly box?: Box | null;
  readonly comment?: string;
}

export interface VerdictRecord {
  readonly id: number;
  readonly studyInstanceUid: string;
  readonly userName: string;
  readonly version: number;
  readonly verdict: Verdict;
  readonly sopInstanceUid: string;
  readonly box: Box | null;
  readonly comment: string;
  /** What this version changed against the reader's previous one. */
  readonly changes: string;
  /** Given on an audit-sample case, without the model's decision shown. */
  readonly blinded: boolean;
  readonly createdAt: string;
}
