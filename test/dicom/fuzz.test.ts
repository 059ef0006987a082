// A 300-case seeded run of the DICOM fuzzer (bench/fuzz-dicom.ts runs 10,000): damaged phantom and fixture images
// in every transfer syntax, each read in a worker thread. Every case is decided (no hang past 2 s), none crashes,
// and every refusal is a coded DicomError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixtureSeeds, fuzzCases, MUTATIONS, phantomSeeds } from '../../bench/lib/fuzzDicom.js';
import { runCases, summarise } from '../../bench/lib/fuzzRunner.js';
import { readDicomBytes } from '../../src/dicom/index.js';
import { needs } from '../helpers/references.js';

describe('DICOM fuzzing (300 seeded cases)', needs('dcmtk', 'gdcm'), () => {
  it('every damaged file is read or refused with a coded DicomError, within 2 s, without a crash', async () => {
    const fixtures = await fixtureSeeds();
    try {
      const seeds = [...phantomSeeds(), ...fixtures.seeds];
      assert.ok(seeds.length >= 17, `${seeds.length} seed files`);
      // the fuzzer damages good files: every seed, in every syntax, reads as it is (a plain Uint8Array, not a Buffer)
      for (const s of seeds) await readDicomBytes(new Uint8Array(s.bytes), s.label);
      const results = await runCases(fuzzCases(seeds, 20260612, 300), {
        workerUrl: new URL('../../bench/lib/fuzzDicomWorker.js', import.meta.url),
        workers: 2,
        timeLimitMs: 2000,
        heapMb: 1024,
        warmUp: seeds.map((s) => s.bytes),
      });
      const summary = summarise(results);
      assert.equal(summary.cases, 300);
      assert.deepEqual(summary.failures.map((f) => `case ${f.index} (${f.label}, ${f.mutation}): ${f.outcome} ${f.message ?? ''}`), []);
      assert.equal(summary.accepted + summary.rejected, 300);
      // every refusal carries a code of the DICOM catalogue
      assert.ok(Object.keys(summary.codes).every((code) => code.startsWith('HF_DICOM_')), JSON.stringify(summary.codes));
      // the run really damaged files: most are refused, and every mutation kind was drawn
      assert.ok(summary.rejected > 150, `${summary.rejected} refused`);
      assert.deepEqual(Object.keys(summary.byMutation).sort(), [...MUTATIONS].sort());
    } finally {
      fixtures.cleanup();
    }
  });
});
