// Claims equal checks for the documentation: the README's Quick start is exactly the two commands and CI runs the
// test one; the CLI table lists every command and only those; every command line in README and docs/ uses options
// its command has; every local link (and heading anchor) resolves; README stays short; no first person; the
// weights table matches the zoo; docs/results.md's FracAtlas recipe rows, the ranges over them (docs/real-images.md,
// docs/results.md) and the script's run (README's sentence too) match their stored results.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from '../../src/cli/commands/index.js';
import { listModels } from '../../src/models/index.js';

// dist/test/docs → repository root.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), 'utf8');
const README = read('README.md');
const DOCS = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
const PAGES = ['README.md', ...DOCS];

/** The text of a `## title` section, up to the next heading of level 2. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has no "## ${title}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end < 0 ? undefined : end);
}

/** Lines inside ``` fences, continuation lines (indented) joined to the line before. */
function codeLines(markdown: string): string[] {
  const lines: string[] = [];
  let inside = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) {
      inside = !inside;
      continue;
    }
    if (!inside) continue;
    if (/^\s+\S/.test(line) && lines.length > 0) lines[lines.length - 1] += ` ${line.trim()}`;
    else lines.push(line);
  }
  return lines;
}

test('the Quick start is exactly the two commands, and CI runs the test command', () => {
  const commandsShown = codeLines(section(README, 'Quick start'))
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '');
  assert.deepEqual(commandsShown, ['bash scripts/demo.sh', 'bash scripts/test.sh']);
  assert.ok(existsSync(path.join(ROOT, 'scripts/demo.sh')) && existsSync(path.join(ROOT, 'scripts/test.sh')));
  const ci = read('.ci/run').split('\n').map((l) => l.trim());
  assert.ok(ci.includes('bash scripts/test.sh'), '.ci/run must run `bash scripts/test.sh`');
});

test("the README's CLI table lists every command of src/cli/commands/index.ts, and only those", () => {
  const listed = [...section(README, 'CLI').matchAll(/^\| `([a-z][a-z-]*)` \|/gm)].map((m) => m[1] as string);
  assert.deepEqual([...listed].sort(), commands.map((c) => c.name).sort());
  assert.equal(new Set(listed).size, listed.length, 'a command is listed twice');
});

test('every `hipfrac <command> --option` in README and docs names a command and an option it has', () => {
  const byName = new Map(commands.map((c) => [c.name, c]));
  const problems: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    const text = read(page);
    const inline = [...text.replace(/\n/g, ' ').matchAll(/`(hipfrac [^`]+)`/g)].map((m) => m[1] as string);
    const invocations = [...codeLines(text), ...inline].flatMap((l) => l.split(/&&|;/)).map((l) => l.trim()).filter((l) => l.startsWith('hipfrac '));
    for (const line of invocations) {
      const name = line.split(/\s+/)[1] ?? '';
      if (name.startsWith('<')) continue; // `hipfrac <command> --help`
      const command = byName.get(name);
      if (command === undefined) {
        problems.push(`${page}: unknown command in "${line}"`);
        continue;
      }
      // The options a command takes are named in its source (parseArgs keys, usage text); compare takes train's.
      const sources = [command.usage, read(`src/cli/commands/${name}.ts`), ...(name === 'compare' ? [read('src/cli/commands/train.ts')] : [])].join('\n');
      for (const m of line.matchAll(/(?:^|[\s[])--([a-z0-9][a-z0-9-]*)/g)) {
        const flag = m[1] as string;
        checked++;
        if (flag === 'help') continue;
        const known = sources.includes(`'${flag}'`) || new RegExp(`[{,\\s]${flag}: \\{`).test(sources) || sources.includes(`--${flag}`);
        if (!known) problems.push(`${page}: hipfrac ${name} has no --${flag} ("${line}")`);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} options found: the parser missed the command lines`);
  assert.deepEqual(problems, []);
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  return new Set([...markdown.matchAll(/^#{1,6} (.+)$/gm)].map((m) => (m[1] as string).toLowerCase().replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/ /g, '-')));
}

test('every local link in README and docs resolves, anchors included', () => {
  const problems: string[] = [];
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1] as string;
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split('#') as [string, string | undefined];
      const resolved = file === '' ? page : path.join(path.dirname(page), file);
      if (!existsSync(path.join(ROOT, resolved))) {
        problems.push(`${page}: ${target} (no such file)`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchors(read(resolved)).has(anchor)) problems.push(`${page}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(problems, []);
});

test('README reads in two minutes (under 8 KB) and no page speaks in the first person', () => {
  assert.ok(Buffer.byteLength(README) < 8192, `README is ${Buffer.byteLength(README)} bytes`);
  for (const page of PAGES) {
    // Code spans (a key such as `I`, an identifier) are not prose.
    const hits = [...read(page).replace(/`[^`\n]*`/g, '').matchAll(/\b(I|we|We|our|Our|ours|Ours|my|My)\b/g)].map((m) => m[1]);
    assert.deepEqual(hits, [], `${page} speaks in the first person`);
  }
});

test('the weights table of docs/models.md names every architecture with a file name the zoo looks for', () => {
  const zoo = read('src/models/zoo.ts');
  const rows = [...read('docs/models.md').matchAll(/^\| ([a-z0-9_]+) \| `([^`]+\.pth)`/gm)].map((m) => ({ arch: m[1] as string, file: m[2] as string }));
  assert.deepEqual(rows.map((r) => r.arch).sort(), listModels().map((s) => s.name).sort());
  for (const r of rows) assert.ok(zoo.includes(r.file), `${r.arch}: ${r.file} is not a file name src/models/zoo.ts knows`);
});

test("docs/results.md's table of FracAtlas recipe rows repeats bench/results/recipe-rows.json", () => {
  const stored = JSON.parse(read('bench/results/recipe-rows.json')) as {
    rows: { file: string; rocAuc: { estimate: number; lower: number; upper: number }; eceAfterCalibration: number; boxHeadPointingGame: number | null }[];
  };
  const lines = read('docs/results.md').split('\n');
  const f3 = (v: number): string => v.toFixed(3);
  for (const row of stored.rows) {
    const auc = `${f3(row.rocAuc.estimate)} [${f3(row.rocAuc.lower)}, ${f3(row.rocAuc.upper)}]`;
    const ece = f3(row.eceAfterCalibration);
    const pg = row.boxHeadPointingGame === null ? '—' : `${(100 * row.boxHeadPointingGame).toFixed(1)} %`;
    // The table's last two cells: box head PG, ECE after calibration (the ROC-AUC may also stand in other tables).
    const rows = lines.filter((l) => l.startsWith('|') && l.includes(auc)).map((l) => l.split('|').map((c) => c.trim()));
    assert.ok(rows.length > 0, `docs/results.md has no table row with ${row.file}'s test ROC-AUC ${auc}: rerun bench/recipe-rows.ts and copy its figures`);
    assert.ok(
      rows.some((cells) => cells.at(-2) === ece && cells.at(-3) === pg),
      `${row.file}: docs/results.md's row with ROC-AUC ${auc} does not end in box head PG ${pg} and ECE ${ece}`,
    );
  }
});

test("the ranges over the FracAtlas recipe rows in docs/real-images.md and docs/results.md repeat bench/results/recipe-rows.json", () => {
  const { acrossRows: a } = JSON.parse(read('bench/results/recipe-rows.json')) as {
    acrossRows: {
      rows: number;
      gateTestPassRate: { min: number; max: number };
      eceAfterCalibration: { min: number; max: number };
      perfectModelUnderProtocol: Record<'median' | 'upper' | 'shareAtGoal', { min: number; max: number }>;
      testAboveValidationRocAuc: { augmented: { rows: number; min: number; max: number }; notAugmented: { rows: number; min: number; max: number } };
    };
  };
  const text = read('docs/real-images.md').replace(/\s+/g, ' ');
  const f3 = (v: number): string => v.toFixed(3);
  const pct = (v: number, digits: number): string => (100 * v).toFixed(digits);
  const p = a.perfectModelUnderProtocol;
  const { augmented: aug, notAugmented: plain } = a.testAboveValidationRocAuc;
  for (const claim of [
    `over the ${a.rows} recipe rows the test pass rate lies between ${pct(a.gateTestPassRate.min, 1)} % and ${pct(a.gateTestPassRate.max, 1)} %`,
    `The top-label ECE after calibration of the ${a.rows} runs lies between ${f3(a.eceAfterCalibration.min)} and ${f3(a.eceAfterCalibration.max)}`,
    `scores a median of ${f3(p.median.min)}–${f3(p.median.max)} with a 95th percentile of ${f3(p.upper.min)}–${f3(p.upper.max)} on these images, and meets the goal of 0.03 in ${pct(p.shareAtGoal.min, 0)}–${pct(p.shareAtGoal.max, 0)} % of the draws`,
    `the test ROC-AUC lies ${pct(aug.min, 1)}–${pct(aug.max, 1)} points above the validation ROC-AUC of the epoch kept in each of the ${aug.rows} rows with augmentation, ${plain.rows === 1 ? pct(plain.min, 1) : `${pct(plain.min, 1)}–${pct(plain.max, 1)}`} without`,
  ]) assert.ok(text.includes(claim), `docs/real-images.md does not say "${claim}" (bench/results/recipe-rows.json, acrossRows): rerun bench/recipe-rows.ts and copy its figures`);
  const share = `meets ECE ≤ 0.03 in ${pct(p.shareAtGoal.min, 0)}–${pct(p.shareAtGoal.max, 0)} % of draws`;
  assert.ok(read('docs/results.md').replace(/\s+/g, ' ').includes(share), `docs/results.md does not say "${share}" (bench/results/recipe-rows.json, acrossRows)`);
});

test("README's FracAtlas sentence and docs/results.md's table of the script's run repeat bench/results/fracatlas.json", () => {
  const run = JSON.parse(read('bench/results/fracatlas.json')) as {
    minutes: number;
    result: { rocAuc: { estimate: number; lower: number; upper: number }; ece: { before: number; after: number } };
    calibration: { temperature: number; bias: number };
    gate: { validation: { passRate: number }; test: { passRate: number } };
    audit: {
      masking: { auc: number; aucMasked: number };
      probes: { label: string; accuracy: number; majorityBaseline: number }[];
      fractureSignal: { label: string; labelOnlyAuc: number; withinGroupAuc: number; modelAuc: number }[];
      localisation: { boxHead: { pointingGame: number } };
    };
  };
  const f3 = (v: number): string => v.toFixed(3);
  const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
  const minus = (v: number): string => v.toFixed(2).replace('-', '−');
  const boxHead = run.audit.localisation.boxHead.pointingGame;
  const readme = README.replace(/\s+/g, ' ');
  for (const claim of [
    `in ${Math.round(run.minutes)} minutes`,
    `test ROC-AUC ${f3(run.result.rocAuc.estimate)}`,
    `fracture box on ${Math.round(100 * boxHead)} %`,
    `ECE after calibration is ${f3(run.result.ece.after)}`,
  ]) {
    assert.ok(readme.includes(claim), `README does not say "${claim}" (bench/results/fracatlas.json)`);
  }
  const results = read('docs/results.md').replace(/\s+/g, ' ');
  const markers = run.audit.probes.find((p) => p.label === 'markers');
  assert.ok(markers !== undefined, 'fracatlas.json has no marker probe');
  const signal = (label: string): string => {
    const s = run.audit.fractureSignal.find((x) => x.label === label) ?? assert.fail(`fracatlas.json has no fracture signal for ${label}`);
    return `${f3(s.labelOnlyAuc)}; ${f3(s.withinGroupAuc)}`;
  };
  const markerSignal = run.audit.fractureSignal.find((x) => x.label === 'markers');
  for (const claim of [
    `${run.minutes.toFixed(1)} min end to end`,
    `| ${f3(run.result.rocAuc.estimate)} [${f3(run.result.rocAuc.lower)}, ${f3(run.result.rocAuc.upper)}] |`,
    `(T = ${run.calibration.temperature.toFixed(2)}, b = ${minus(run.calibration.bias)})`,
    `| ${f3(run.result.ece.before)} / ${f3(run.result.ece.after)} `,
    `| ${pct(boxHead)} [`,
    `passes ${pct(run.gate.test.passRate)} of the test images (validation ${pct(run.gate.validation.passRate)})`,
    `AUC ${f3(run.audit.masking.auc)} → ${f3(run.audit.masking.aucMasked)}`,
    `${pct(markers.accuracy)} (majority ${pct(markers.majorityBaseline)})`,
    `| ${signal('markers')} (overall ${f3(markerSignal?.modelAuc ?? Number.NaN)}) |`,
    `| ${signal('bodyPart')} — ${signal('hardware')} |`,
  ]) {
    assert.ok(results.includes(claim), `docs/results.md does not say "${claim}" (bench/results/fracatlas.json)`);
  }
});
