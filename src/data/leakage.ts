// Proves a split leaks nothing: no patient key and no content hash (exact duplicate image) appears in
// more than one set (or, for k-fold, in more than one fold).
import type { ManifestRow } from './manifest.js';
import type { SplitFile } from './split.js';

export interface Leak {
  readonly kind: 'patient' | 'duplicate';
  /** The shared patient key or content hash. */
  readonly key: string;
  readonly sets: readonly string[];
  readonly rowIds: readonly string[];
}

export interface LeakageReport {
  readonly ok: boolean;
  readonly rows: number;
  readonly unassigned: number;
  readonly leaks: readonly Leak[];
  readonly setSizes: Readonly<Record<string, number>>;
}

function setOf(row: ManifestRow, split: SplitFile): string | undefined {
  if (split.assignments[row.id] === 'test') return 'test';
  if (split.folds !== null) {
    const fold = split.foldOf[row.id];
    return fold === undefined ? undefined : `fold-${fold}`;
  }
  return split.assignments[row.id];
}

export function checkLeakage(rows: readonly ManifestRow[], split: SplitFile): LeakageReport {
  const leaks: Leak[] = [];
  const setSizes: Record<string, number> = {};
  let unassigned = 0;
  for (const kind of ['patient', 'duplicate'] as const) {
    const byKey = new Map<string, { sets: Set<string>; ids: string[] }>();
    for (const row of rows) {
      const set = setOf(row, split);
      if (set === undefined) continue;
      const key = kind === 'patient' ? row.patientKey : row.contentHash;
      const entry = byKey.get(key) ?? { sets: new Set<string>(), ids: [] };
      entry.sets.add(set);
      entry.ids.push(row.id);
      byKey.set(key, entry);
    }
    for (const [key, entry] of byKey) if (entry.sets.size > 1) leaks.push({ kind, key, sets: [...entry.sets].sort(), rowIds: entry.ids });
  }
  for (const row of rows) {
    const set = setOf(row, split);
    if (set === undefined) unassigned++;
    else setSizes[set] = (setSizes[set] ?? 0) + 1;
  }
  return { ok: leaks.length === 0 && unassigned === 0, rows: rows.length, unassigned, leaks, setSizes };
}
