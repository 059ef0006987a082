// The report's stylesheet, inlined into every report: clean typography, a sticky table of contents on
// wide screens, tables with tabular numbers, and print rules that keep figures and tables whole.
export const REPORT_CSS = `
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa; --accent: #1f6feb; --bad: #cf222e; --good: #1a7f37;
  --font: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.55 var(--font); }
.layout { display: grid; grid-template-columns: 200px minmax(0, 1fr); gap: 36px; max-width: 1280px; margin: 0 auto; padding: 32px 32px 64px; }
header.report-head { grid-column: 1 / -1; border-bottom: 2px solid var(--fg); padding-bottom: 14px; }
header.report-head h1 { margin: 0; font-size: 28px; line-height: 1.2; letter-spacing: -0.01em; }
header.report-head .subtitle { margin: 6px 0 0; font-size: 16px; color: var(--muted); }
header.report-head .meta { margin: 10px 0 0; font-size: 12.5px; color: var(--muted); }
nav.toc { position: sticky; top: 24px; align-self: start; font-size: 13.5px; }
nav.toc h2 { font-size: 11px; text-transform: uppercase; letter-spacing: 0.08em; color: var(--muted); margin: 4px 0 8px; }
nav.toc ol { list-style: none; margin: 0; padding: 0; counter-reset: toc; }
nav.toc li { counter-increment: toc; margin: 0; }
nav.toc a { display: block; padding: 4px 8px; border-left: 2px solid var(--line); color: var(--fg); text-decoration: none; }
nav.toc a::before { content: counter(toc) ". "; color: var(--muted); }
nav.toc a:hover { border-left-color: var(--accent); color: var(--accent); background: var(--soft); }
main { min-width: 0; }
section.report-section { margin: 0 0 44px; counter-increment: section; }
main { counter-reset: section; }
section.report-section > h2 { font-size: 21px; margin: 8px 0 14px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
section.report-section > h2::before { content: counter(section) ". "; color: var(--muted); font-weight: 500; }
h3 { font-size: 16px; margin: 24px 0 8px; }
p { margin: 8px 0 12px; max-width: 78ch; }
.muted { color: var(--muted); }
code { font-family: var(--mono); font-size: 0.9em; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 8px 0 18px; font-size: 14px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0 0 6px; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted); border-bottom: 2px solid var(--fg); white-space: nowrap; }
tbody th { font-weight: 600; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td .num { display: block; }
td .ci { display: block; font-size: 11.5px; color: var(--muted); }
td.best .num { font-weight: 700; }
td.significant { color: var(--bad); font-weight: 600; }
.badge { display: inline-block; margin-left: 6px; padding: 0 6px; border-radius: 9px; background: var(--accent); color: #fff; font-size: 11px; font-weight: 600; vertical-align: 1px; }
.table-scroll { overflow-x: auto; }
table.comparison th, table.comparison td { padding: 6px 8px; }
table.comparison thead th { white-space: normal; vertical-align: bottom; }
table.comparison tbody th { white-space: nowrap; }
table.kv th { font-weight: 500; }
table.kv td { font-family: var(--mono); font-size: 13px; word-break: break-word; }
table.confusion td.cm-cell { min-width: 110px; text-align: center; }
table.confusion .cm-count { display: block; font-size: 20px; font-weight: 700; }
table.confusion .cm-share { display: block; font-size: 12px; color: var(--muted); }
table.confusion th.corner { font-size: 11px; text-transform: none; letter-spacing: 0; }
tr.group-start > * { border-top: 2px solid var(--line); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; margin: 12px 0 20px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: var(--soft); }
.card .card-label { font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.card .card-value { font-size: 26px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.2; }
.card .card-detail { font-size: 12px; color: var(--muted); }
.figures { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
figure.chart { margin: 8px 0 16px; max-width: 100%; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figure.chart figcaption, .figure-caption { font-size: 13px; color: var(--muted); margin-top: 6px; max-width: 60ch; }
.gallery { display: grid; grid-template-columns: repeat(var(--columns, 4), minmax(0, 1fr)); gap: 14px; margin: 8px 0; }
figure.tile { margin: 0; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; background: #fff; display: flex; flex-direction: column; }
figure.tile img { display: block; width: 100%; height: auto; aspect-ratio: 1 / 1; object-fit: contain; background: #000; }
figure.tile figcaption { padding: 6px 8px; font-size: 12.5px; }
figure.tile .tile-caption { display: block; font-family: var(--mono); font-size: 12px; }
figure.tile .case-key { display: block; color: var(--muted); font-size: 11px; }
.note { border-left: 3px solid var(--accent); background: var(--soft); padding: 8px 12px; margin: 12px 0; font-size: 14px; }
footer.report-foot { grid-column: 1 / -1; border-top: 1px solid var(--line); padding-top: 12px; font-size: 12px; color: var(--muted); }
@media (max-width: 900px) {
  .layout { grid-template-columns: minmax(0, 1fr); padding: 20px 16px 48px; gap: 16px; }
  nav.toc { position: static; }
  .gallery { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
@media print {
  @page { margin: 16mm 14mm; }
  body { font-size: 11pt; }
  .layout { display: block; padding: 0; max-width: none; }
  nav.toc { position: static; margin-bottom: 18px; page-break-after: always; }
  nav.toc a { border-left: none; padding: 2px 0; }
  section.report-section > h2 { page-break-after: avoid; break-after: avoid; }
  table, figure, .cards, .gallery figure.tile { page-break-inside: avoid; break-inside: avoid; }
  .table-scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
  .gallery { grid-template-columns: repeat(4, minmax(0, 1fr)); }
}
`;
