// Assembles one self-contained HTML report from sections (header, table of contents, footer, inline CSS)
// and writes it atomically. Other rooms add their own sections (heatmaps, robustness, triage); a later stage (the
// shortcut audit) adds or replaces its section in a report already written.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReportError } from './errors.js';
import { escapeHtml } from './html.js';
import { REPORT_CSS } from './styles.js';

export interface ReportSection {
  /** Anchor id: lower-case letters, digits and dashes, unique in the report. */
  readonly id: string;
  readonly title: string;
  /** Trusted HTML built with this room's helpers (which escape their text). */
  readonly html: string;
}

export interface ReportDocument {
  readonly title: string;
  readonly subtitle?: string;
  /** Shown in the header; defaults to now. Pass a fixed value for reproducible files. */
  readonly generatedAt?: Date | string;
  /** Extra header line, e.g. "hipfrac 0.1.0 · run 2026-11-27T07:00 · seed 0". */
  readonly meta?: string;
  readonly sections: readonly ReportSection[];
}

const SECTION_ID = /^[a-z][a-z0-9-]*$/;

function checkSectionId(s: ReportSection): void {
  if (!SECTION_ID.test(s.id)) {
    throw new ReportError('HF_REPORT_SECTION_ID', `Section "${s.title}" has the id "${s.id}", which is not a valid anchor.`,
      `section ${s.id}`, 'use lower-case letters, digits and dashes, starting with a letter (e.g. "learning-curves")');
  }
}

function checkSections(sections: readonly ReportSection[]): void {
  const seen = new Set<string>();
  for (const s of sections) {
    checkSectionId(s);
    if (seen.has(s.id)) {
      throw new ReportError('HF_REPORT_SECTION_ID', `Two sections share the id "${s.id}".`, `section ${s.id}`, 'give each section its own id');
    }
    seen.add(s.id);
  }
}

/**
 * Renders the complete HTML page: no external script, style, font or image, so it opens offline from
 * a file and prints cleanly.
 * @example writeReport('runs/1/report.html', renderReport({ title: 'densenet169', sections }))
 */
export function renderReport(doc: ReportDocument): string {
  checkSections(doc.sections);
  const when = doc.generatedAt === undefined ? new Date() : doc.generatedAt;
  const whenText = when instanceof Date ? when.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : when;
  const toc = doc.sections.map(tocEntry).join('');
  const body = doc.sections.map(sectionElement).join('\n');
  const subtitle = doc.subtitle === undefined ? '' : `<p class="subtitle">${escapeHtml(doc.subtitle)}</p>`;
  const meta = [`Generated ${whenText}`, ...(doc.meta === undefined ? [] : [doc.meta])].map(escapeHtml).join(' · ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="hipfrac">
<title>${escapeHtml(doc.title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<div class="layout">
<header class="report-head"><h1>${escapeHtml(doc.title)}</h1>${subtitle}<p class="meta">${meta}</p></header>
<nav class="toc" aria-label="Contents"><h2>Contents</h2><ol>${toc}</ol></nav>
<main>
${body}
</main>
<footer class="report-foot">Self-contained report written by hipfrac. Cases are shown by pseudonymous key only; no patient identifiers are included. Not a medical device: findings need a radiologist's review.</footer>
</div>
</body>
</html>
`;
}

const tocEntry = (s: ReportSection): string => `<li><a href="#${s.id}">${escapeHtml(s.title)}</a></li>`;
const SECTION_OPEN = '<section class="report-section" id="';
const sectionStart = (id: string): string => `${SECTION_OPEN}${id}">`;
const sectionElement = (s: ReportSection): string => `${sectionStart(s.id)}<h2>${escapeHtml(s.title)}</h2>${s.html}</section>`;
const TOC_END = '</ol></nav>';
const MAIN_END = '\n</main>';

/**
 * A report renderReport wrote, with `section` in it: the section of the same id and its contents entry replaced
 * where the report has one, else both added at the end. Section bodies are built with this room's helpers, which
 * escape their text, so a section ends where the next section's opening tag (or the end of <main>) begins.
 * @param where the report's file, named in the error when `html` is not a report renderReport wrote
 */
export function withSection(html: string, section: ReportSection, where = 'report'): string {
  checkSectionId(section);
  const tocAt = html.indexOf(TOC_END);
  const mainAt = html.indexOf(MAIN_END);
  if (tocAt < 0 || mainAt < 0 || mainAt < tocAt) {
    throw new ReportError('HF_REPORT_BAD_DATA', 'The file is not a report hipfrac wrote (no table of contents or <main> where renderReport puts them), so a section cannot be added to it.',
      where, 'pass the report.html that `hipfrac train` wrote in the run folder, or train again to write one');
  }
  const start = html.indexOf(sectionStart(section.id));
  if (start < 0) {
    const added = `${html.slice(0, mainAt)}\n${sectionElement(section)}${html.slice(mainAt)}`;
    return `${added.slice(0, tocAt)}${tocEntry(section)}${added.slice(tocAt)}`;
  }
  const next = html.indexOf(`\n${SECTION_OPEN}`, start + 1);
  const end = next >= 0 && next < mainAt ? next : mainAt;
  const replaced = `${html.slice(0, start)}${sectionElement(section)}${html.slice(end)}`;
  const entry = new RegExp(`<li><a href="#${section.id}">[^<]*</a></li>`);
  return entry.test(replaced) ? replaced.replace(entry, tocEntry(section)) : replaced.replace(TOC_END, `${tocEntry(section)}${TOC_END}`);
}

/**
 * Adds `section` to the report file (or replaces the section of its id), written back atomically. Returns false,
 * leaving everything as it is, when there is no such file.
 */
export function addSectionToReportFile(file: string, section: ReportSection): boolean {
  if (!existsSync(file)) return false;
  let html: string;
  try {
    html = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ReportError('HF_REPORT_BAD_DATA', `The report could not be read: ${(cause as Error).message}`, file, 'check that the file is readable', cause);
  }
  writeReport(file, withSection(html, section, file));
  return true;
}

/** Writes the report through a temporary file and a rename, so a crash never leaves half a report. */
export function writeReport(file: string, html: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, html, 'utf8');
    renameSync(tmp, file);
  } catch (cause) {
    throw new ReportError('HF_REPORT_WRITE_FAILED', `The report could not be written: ${(cause as Error).message}`, file,
      'check that the folder exists or can be created and is writable', cause);
  }
}

/** A chart (inline SVG from the chart helpers) with an optional caption. */
export function figure(svg: string, caption?: string): string {
  const cap = caption === undefined ? '' : `<figcaption>${escapeHtml(caption)}</figcaption>`;
  return `<figure class="chart">${svg}${cap}</figure>`;
}

/** Several figures side by side, wrapping on narrow screens. */
export function figureRow(figures: readonly string[]): string {
  return `<div class="figures">${figures.join('')}</div>`;
}

/** A paragraph of plain text (escaped). */
export function paragraph(text: string, options: { muted?: boolean } = {}): string {
  return `<p${options.muted === true ? ' class="muted"' : ''}>${escapeHtml(text)}</p>`;
}

/** A highlighted remark (escaped), e.g. what a table does not show. */
export function note(text: string): string {
  return `<div class="note">${escapeHtml(text)}</div>`;
}

/** A sub-heading inside a section (escaped). */
export function subheading(text: string): string {
  return `<h3>${escapeHtml(text)}</h3>`;
}

export interface StatCard {
  readonly label: string;
  readonly value: string;
  readonly detail?: string;
}

/** Headline numbers as cards at the top of a section (all text escaped). */
export function statCards(cards: readonly StatCard[]): string {
  const items = cards.map((c) => `<div class="card"><div class="card-label">${escapeHtml(c.label)}</div><div class="card-value">${escapeHtml(c.value)}</div>`
    + `${c.detail === undefined ? '' : `<div class="card-detail">${escapeHtml(c.detail)}</div>`}</div>`).join('');
  return `<div class="cards">${items}</div>`;
}
