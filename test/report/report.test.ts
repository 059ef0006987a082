// The HTML report: self-contained (no external fetch of any kind), every section present and linked from
// the contents, charts are well-formed SVG with their axis titles, all text escaped, identifiers refused.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { mcnemarFromCounts } from '../../src/train/metrics/index.js';
import {
  comparisonTable, confusionMatrixHtml, escapeHtml, formatCount, formatDuration, formatPValue, gallery, imageDataUri, keyValueTable,
  lineChart, metricsTable, renderReport, ReportError, rocChart,
} from '../../src/report/index.js';
import { sampleReports, sampleTile, type SampleReport } from './fixtures.js';

const INJECTED = '<script>alert("x")</script><img src=x onerror=alert(1)>';

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ReportError, String(e));
    return e.code;
  }
  return 'no error';
}

/** Checks that every tag inside an SVG opens and closes in order (a small well-formedness test). */
function assertWellFormedSvg(svg: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g;
  for (const m of svg.matchAll(tag)) {
    const [, closing, name, , selfClosing] = m;
    if (selfClosing === '/') continue;
    if (closing === '/') assert.equal(stack.pop(), name, `unbalanced </${name}> in SVG`);
    else stack.push(name!);
  }
  assert.deepEqual(stack, [], 'unclosed SVG elements');
}

function svgsOf(html: string): string[] {
  return [...html.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
}

describe('report document', () => {
  let sample: SampleReport;
  before(async () => {
    sample = await sampleReports({ n: 400, seed: 3, injectedCaption: INJECTED });
  });

  it('is self-contained: no external src/href, script, stylesheet link, import or remote url()', () => {
    for (const html of [sample.run, sample.comparison]) {
      assert.doesNotMatch(html, /<script/i);
      assert.doesNotMatch(html, /<link\b/i);
      assert.doesNotMatch(html, /@import/i);
      assert.doesNotMatch(html, /url\(\s*['"]?(https?:)?\/\//i);
      // Attributes of real tags only (escaped text has no '<'); xmlns is a namespace name, not a fetch.
      const tags = [...html.matchAll(/<[a-zA-Z][^>]*>/g)].map((m) => m[0]);
      let checked = 0;
      for (const tag of tags) {
        // Walk the attributes in order so that text inside a quoted value is never read as an attribute.
        for (const m of tag.replace(/^<[\w:-]+/, '').matchAll(/\s*([\w:-]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?/g)) {
          const attr = m[1]!;
          if (!/^(src|href|xlink:href)$/i.test(attr)) continue;
          const value = (m[2] ?? '').replace(/^["']|["']$/g, '');
          checked++;
          if (attr!.toLowerCase() === 'src') assert.match(value!, /^data:image\/(png|jpeg);base64,/, `src=${value!.slice(0, 40)}`);
          else assert.match(value!, /^#/, `href=${value}`);
        }
      }
      assert.ok(checked > 0, 'the check saw the links and images');
    }
  });

  it('contains each section, linked from the table of contents in order', () => {
    const ids = sample.sections.map((s) => s.id);
    assert.deepEqual(ids, ['summary', 'configuration', 'learning-curves', 'metrics', 'curves', 'calibration', 'subgroups', 'top-losses', 'most-confident']);
    const tocOrder = [...sample.run.matchAll(/<li><a href="#([a-z0-9-]+)">/g)].map((m) => m[1]);
    assert.deepEqual(tocOrder, ids);
    for (const s of sample.sections) {
      assert.ok(sample.run.includes(`<section class="report-section" id="${s.id}"><h2>${escapeHtml(s.title)}</h2>`), s.id);
    }
    assert.match(sample.comparison, /id="table"/);
    assert.match(sample.comparison, /McNemar p vs best/);
  });

  it('inlines well-formed SVG charts with their axis titles and unique element ids', () => {
    const svgs = svgsOf(sample.run);
    assert.equal(svgs.length, 5, 'learning curves, LR finder, ROC, PR, reliability');
    svgs.forEach(assertWellFormedSvg);
    for (const title of ['epoch', 'cross-entropy loss', 'learning rate', 'smoothed loss', 'false positive rate', 'true positive rate',
      'recall (sensitivity)', 'precision (PPV)', 'predicted fracture probability', 'observed fracture rate', 'valley']) {
      assert.ok(svgs.some((svg) => svg.includes(escapeHtml(title)) || svg.includes(title)), `axis title "${title}"`);
    }
    const ids = [...sample.run.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    assert.equal(new Set(ids).size, ids.length, 'element ids are unique across the page');
  });

  it('escapes an injected caption instead of running it', () => {
    assert.doesNotMatch(sample.run, /<script>alert/);
    assert.doesNotMatch(sample.run, /<img src=x/);
    assert.ok(sample.run.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;'));
    const page = renderReport({ title: '<b>t</b>', subtitle: '"s"', generatedAt: 'now', sections: [{ id: 'a', title: '<i>x</i>', html: '<p>trusted</p>' }] });
    assert.ok(page.includes('<title>&lt;b&gt;t&lt;/b&gt;</title>'));
    assert.ok(page.includes('&lt;i&gt;x&lt;/i&gt;'));
    assert.ok(page.includes('<p>trusted</p>'), 'section html is trusted as given');
  });

  it('shows the study captions and pseudonymous keys in the galleries', () => {
    assert.match(sample.run, /class="tile-caption">(no fracture|fracture)\/(no fracture|fracture)\/\d+\.\d\d\/\d\.\d\d</);
    assert.match(sample.run, /class="case-key">P[0-9a-f]{6}</);
  });

  it('refuses bad or repeated section ids', () => {
    assert.equal(errorCode(() => renderReport({ title: 't', sections: [{ id: 'Has Space', title: 'x', html: '' }] })), 'HF_REPORT_SECTION_ID');
    assert.equal(errorCode(() => renderReport({ title: 't', sections: [{ id: 'a', title: 'x', html: '' }, { id: 'a', title: 'y', html: '' }] })), 'HF_REPORT_SECTION_ID');
  });
});

describe('report helpers', () => {
  it('escapes the five HTML specials', () => {
    assert.equal(escapeHtml(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  });

  it('refuses patient identifiers in key/value tables, keeps pseudonymous keys', () => {
    assert.equal(errorCode(() => keyValueTable({ PatientName: 'DOE^JOHN' })), 'HF_REPORT_IDENTIFIER');
    assert.equal(errorCode(() => keyValueTable({ data: { patient_id: '123' } })), 'HF_REPORT_IDENTIFIER');
    assert.equal(errorCode(() => keyValueTable({ accessionNumber: 'A1' })), 'HF_REPORT_IDENTIFIER');
    const ok = keyValueTable({ patientKey: 'P1a2b3c', model: { name: 'densenet169', classes: ['no fracture', 'fracture'] } });
    assert.match(ok, /<code>model\.name<\/code><\/th><td>densenet169</);
    assert.match(ok, /no fracture, fracture/);
  });

  it('embeds PNG bytes as data URIs and refuses links and other bytes', () => {
    const png = sampleTile(true, 1, 16);
    assert.match(imageDataUri(png), /^data:image\/png;base64,iVBOR/);
    assert.match(gallery([{ image: png, caption: 'c' }]), /<img src="data:image\/png;base64,/);
    assert.equal(errorCode(() => gallery([{ image: 'https://example.org/x.png', caption: 'c' }])), 'HF_REPORT_BAD_IMAGE');
    assert.equal(errorCode(() => gallery([{ image: 'data:image/png;base64,AA" onerror="x', caption: 'c' }])), 'HF_REPORT_BAD_IMAGE');
    assert.equal(errorCode(() => imageDataUri(new Uint8Array([1, 2, 3, 4]))), 'HF_REPORT_BAD_IMAGE');
  });

  it('lays out the confusion matrix with actual rows and predicted columns', () => {
    const html = confusionMatrixHtml({ tp: 40, fp: 3, tn: 50, fn: 7 });
    const counts = [...html.matchAll(/class="cm-count">(\d+)</g)].map((m) => Number(m[1]));
    assert.deepEqual(counts, [50, 3, 7, 40]);
    assert.match(html, /85\.1 %/); // 40 of 47 fractures found
    assert.equal(errorCode(() => confusionMatrixHtml([[1, 2], [3, 4]], ['a', 'b', 'c'])), 'HF_REPORT_BAD_DATA');
  });

  it('sorts the comparison by accuracy, marks the best and prints McNemar p-values', () => {
    const html = comparisonTable([
      { model: 'alexnet', accuracy: 0.81, mcnemar: mcnemarFromCounts(30, 10), parameters: 61_100_840, trainingSeconds: 610, imagesPerSecond: 310.4 },
      { model: 'densenet169', accuracy: { estimate: 0.965, lower: 0.95, upper: 0.976 }, rocAuc: 0.99 },
      { model: 'resnet50', accuracy: 0.94, mcnemar: mcnemarFromCounts(9, 6) },
    ]);
    const order = [...html.matchAll(/<tr><th scope="row">([a-z0-9]+)/g)].map((m) => m[1]);
    assert.deepEqual(order, ['densenet169', 'resnet50', 'alexnet']);
    assert.match(html, /densenet169 <span class="badge">best<\/span>/);
    assert.match(html, /96\.5 %<\/span><span class="ci">95\.0–97\.6</);
    assert.match(html, /class="num significant"[^>]*>0\.003</);
    assert.match(html, />0\.607</);
    assert.match(html, />61\.1 M</);
    assert.match(html, />10 min 10 s</);
  });

  it('formats metric tables and numbers as the study prints them', () => {
    const html = metricsTable({ accuracy: { estimate: 0.9, lower: 0.85, upper: 0.95 }, rocAuc: 0.912, ece: Number.NaN });
    assert.match(html, />90\.0 %</);
    assert.match(html, />85\.0 % – 95\.0 %</);
    assert.match(html, />0\.912</);
    assert.match(html, />—</);
    assert.equal(formatPValue(0.0004), '< 0.001');
    assert.equal(formatDuration(3725), '1 h 02 min');
    assert.equal(formatCount(14_149_480), '14.1 M');
  });

  it('reports unusable chart data with a coded error', async () => {
    await assert.rejects(lineChart([{ name: 'loss', x: [1, 2], y: [1] }], { xLabel: 'x', yLabel: 'y' }), (e: unknown) => e instanceof ReportError && e.code === 'HF_REPORT_BAD_DATA');
    // A zero on a log axis is dropped; the rest still plots.
    assert.match(await lineChart([{ name: 'loss', x: [0, 1, 10], y: [1, 2, 3] }], { xLabel: 'x', yLabel: 'y', logX: true }), /^<svg /);
    await assert.rejects(rocChart([{ name: 'm', fpr: [Number.NaN], tpr: [Number.NaN] }]), (e: unknown) => e instanceof ReportError && e.code === 'HF_REPORT_BAD_DATA');
  });
});
