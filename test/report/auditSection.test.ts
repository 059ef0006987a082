// The shortcut audit in the run report: its section renders every table (the fracture signal and the probes' balanced
// accuracy against chance included), an audit written before those fields still renders, and a section is added to
// (or replaced in) a report already written without touching the rest; a file that is not a report is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ShortcutAudit } from '../../src/audit/index.js';
import { addSectionToReportFile, paragraph, renderReport, ReportError, withSection, type ReportSection } from '../../src/report/index.js';
import { shortcutAuditSection } from '../../src/report/sections/index.js';

/** An audit as `auditShortcuts` writes it before the fields of the review (the shape of runs/fracatlas/audit/audit.json). */
const oldAudit: ShortcutAudit = {
  dataset: 'DATASET',
  architecture: 'resnet18',
  evaluatedOn: 'test',
  images: 553,
  probes: [{ label: 'markers', classes: ['absent', 'present'], trainImages: 1000, heldOutImages: 553, accuracy: 0.675, majorityBaseline: 0.77 }],
  masking: { auc: 0.882, aucMasked: 0.872, aucChange: -0.01, imagesWithMarkers: 426, meanAbsProbabilityChange: 0.019 },
  localisation: null,
  markerDetector: null,
};

const audit: ShortcutAudit = {
  ...oldAudit,
  probes: [{
    ...(oldAudit.probes[0] as ShortcutAudit['probes'][number]),
    balancedAccuracy: 0.583,
    rocAuc: 0.641,
    chance: { balancedAccuracy: 0.5, rocAuc: 0.5 },
    crossValidated: { folds: 5, images: 1000, balancedAccuracy: 0.602, rocAuc: 0.655, chanceBalancedAccuracy: 0.5 },
  }],
  fractureSignal: [{
    label: 'bodyPart',
    groups: [{ name: 'hand', images: 300, fractured: 40 }, { name: 'leg<b>', images: 253, fractured: 58 }],
    labelOnlyAuc: 0.571,
    modelAuc: 0.881,
    withinGroupAuc: 0.874,
    withinGroupPairs: 18_000,
    allPairs: 44_000,
  }],
};

const sections: ReportSection[] = [
  { id: 'summary', title: 'Summary', html: paragraph('Headline figures.') },
  { id: 'metrics', title: 'Metrics', html: paragraph('Metrics & intervals.') },
];
const report = renderReport({ title: 'hipfrac — resnet18', generatedAt: '2026-12-01 10:00 UTC', sections });

const tocOf = (html: string): string[] => [...(/<nav class="toc"[\s\S]*?<\/nav>/.exec(html)?.[0] ?? '').matchAll(/href="#([a-z0-9-]+)"/g)].map((m) => m[1] as string);
const sectionIds = (html: string): string[] => [...html.matchAll(/<section class="report-section" id="([a-z0-9-]+)">/g)].map((m) => m[1] as string);

describe('shortcut audit section', () => {
  it('renders the probes against chance, cross-validated, and the fracture signal of each label', () => {
    const s = shortcutAuditSection(audit);
    assert.equal(s.id, 'shortcut-audit');
    for (const title of ['Nuisance labels read from the features', 'Fracture signal carried by the nuisance labels', 'Burned-in markers masked']) assert.ok(s.html.includes(`<h3>${title}</h3>`), title);
    assert.ok(s.html.includes('58.3 % (chance 50.0 %)'), 'held-out balanced accuracy beside its chance level');
    assert.ok(s.html.includes('60.2 % (chance 50.0 %) · AUC 0.655'), '5-fold cross-validated figures');
    assert.ok(s.html.includes('5-fold CV on training images'));
    assert.match(s.html, /<td>body part<\/td><td>hand 40\/300, leg&lt;b&gt; 58\/253<\/td><td>0\.571<\/td><td>0\.881<\/td><td>0\.874<\/td><td>18000 of 44000<\/td>/);
    assert.ok(s.html.includes('a model that ranks fractures by the label instead of the bone loses AUC there'), 'the table says what the figures mean');
  });

  it('renders an audit written before the balanced accuracy and the fracture signal existed', () => {
    const s = shortcutAuditSection(oldAudit);
    assert.ok(s.html.includes('<td>67.5 %</td><td>77.0 %</td><td>–</td><td>–</td><td>–</td>'), 'absent figures shown as –');
    assert.ok(!s.html.includes('Fracture signal carried'), 'no fracture-signal table without its figures');
  });
});

describe('adding a section to a written report', () => {
  it('adds the section and its contents entry at the end, then replaces it in place on a second audit', () => {
    const once = withSection(report, shortcutAuditSection(oldAudit));
    assert.deepEqual(sectionIds(once), ['summary', 'metrics', 'shortcut-audit']);
    assert.deepEqual(tocOf(once), ['summary', 'metrics', 'shortcut-audit']);
    assert.ok(once.includes('Metrics &amp; intervals.'), 'the other sections are kept');
    assert.ok(once.endsWith(report.slice(report.indexOf('\n</main>'))), 'the footer is kept');
    const twice = withSection(once, shortcutAuditSection(audit));
    assert.deepEqual(sectionIds(twice), ['summary', 'metrics', 'shortcut-audit']);
    assert.deepEqual(tocOf(twice), ['summary', 'metrics', 'shortcut-audit']);
    assert.ok(twice.includes('Fracture signal carried'), 'the new audit is in');
    assert.equal(twice.split('<h2>Shortcut audit</h2>').length, 2, 'one audit section');
    assert.equal(twice, withSection(report, shortcutAuditSection(audit)), 'replacing gives what adding the new one to the first report gives');
  });

  it('replaces a section in the middle without touching the one after it', () => {
    const replaced = withSection(report, { id: 'summary', title: 'Summary', html: paragraph('New headline.') });
    assert.deepEqual(sectionIds(replaced), ['summary', 'metrics']);
    assert.ok(replaced.includes('New headline.') && !replaced.includes('Headline figures.'));
    assert.ok(replaced.includes('Metrics &amp; intervals.'));
  });

  it('refuses a file that is not a report hipfrac wrote, naming it and the fix', () => {
    assert.throws(() => withSection('<html><body>notes</body></html>', shortcutAuditSection(audit), 'runs/r1/report.html'), (e: unknown) => {
      assert.ok(e instanceof ReportError);
      assert.equal(e.code, 'HF_REPORT_BAD_DATA');
      assert.match(e.message, /runs\/r1\/report\.html/);
      assert.match(e.message, /hipfrac train/);
      return true;
    });
  });

  it('updates a report file atomically, and leaves a run without a report alone', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hipfrac-report-audit-'));
    try {
      const file = path.join(dir, 'report.html');
      assert.equal(addSectionToReportFile(file, shortcutAuditSection(audit)), false);
      assert.ok(!existsSync(file), 'no report is made up where the run has none');
      writeFileSync(file, report);
      assert.equal(addSectionToReportFile(file, shortcutAuditSection(audit)), true);
      assert.deepEqual(sectionIds(readFileSync(file, 'utf8')), ['summary', 'metrics', 'shortcut-audit']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
