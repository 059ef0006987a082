// The DICOM fuzzer: seeded cases (bench/lib/fuzzDicom.ts) over phantom and test-fixture images in every transfer
// syntax, each read by hipfrac in a worker thread and decided within 2 s. Writes bench/results/fuzz-dicom.json.
//   node dist/bench/fuzz-dicom.js [--cases 10000] [--seed 1] [--workers 2] [--out bench/results/fuzz-dicom.json]
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixtureSeeds, fuzzCases, phantomSeeds } from './lib/fuzzDicom.js';
import { runCases, summarise, type CaseResult, type FuzzSummary } from './lib/fuzzRunner.js';
import { machineDescription, REPO_ROOT } from './lib/results.js';

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? (process.argv[at + 1] as string) : fallback;
}

const cases = Number(option('cases', '10000'));
const seed = Number(option('seed', '1'));
const workers = Number(option('workers', '2'));
const out = path.resolve(REPO_ROOT, option('out', 'bench/results/fuzz-dicom.json'));
const TIME_LIMIT_MS = 2000;

const fixtures = await fixtureSeeds();
const seeds = [...phantomSeeds(), ...fixtures.seeds];
const started = Date.now();
let done = 0;
let retriedAfterTimeOut = 0;
const finished: CaseResult[] = [];

/** The stored result; written every 250 cases too, so a run stopped early still records what it decided. */
function save(complete: boolean): FuzzSummary {
  const summary = summarise(finished);
  const report = {
    benchmark: 'fuzz-dicom',
    command: `node dist/bench/fuzz-dicom.js --cases ${cases} --seed ${seed} --workers ${workers}`,
    machine: machineDescription(),
    date: new Date().toISOString().slice(0, 10),
    complete,
    casesPlanned: cases,
    timeLimitMs: TIME_LIMIT_MS,
    seedFiles: seeds.map((s) => s.label),
    seconds: Math.round((Date.now() - started) / 1000),
    retriedAfterTimeOut,
    ...summary,
  };
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  return summary;
}

await runCases(fuzzCases(seeds, seed, cases), {
  workerUrl: new URL('./lib/fuzzDicomWorker.js', import.meta.url),
  workers,
  timeLimitMs: TIME_LIMIT_MS,
  heapMb: 1024,
  warmUp: seeds.map((s) => s.bytes),
  onRetries: (n) => (retriedAfterTimeOut = n),
  onResult: (r) => {
    done++;
    finished.push(r);
    if (r.outcome === 'crash' || r.outcome === 'hang') console.log(`case ${r.index} (${r.label}, ${r.mutation}): ${r.outcome} ${r.message ?? ''}`);
    if (done % 250 === 0) {
      save(false);
      console.log(`${done}/${cases} cases, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  },
});
fixtures.cleanup();
const summary = save(true);
console.log(`${summary.cases} cases: ${summary.accepted} accepted, ${summary.rejected} rejected (coded), ${summary.crashes} crashes, ${summary.hangs} hangs; slowest ${summary.maxMs} ms → ${path.relative(REPO_ROOT, out)}`);
process.exitCode = summary.crashes + summary.hangs === 0 ? 0 : 1;
