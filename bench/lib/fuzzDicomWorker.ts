// Worker side of the DICOM fuzzer: reads each case with hipfrac's reader and reports accepted, rejected (with the
// DicomError code) or crash (any other throw).
import { parentPort } from 'node:worker_threads';
import { DicomError, readDicomBytes } from '../../src/dicom/index.js';

const port = parentPort;
if (port === null) throw new Error('fuzzDicomWorker runs as a worker thread');

async function read(bytes: Uint8Array, label: string): Promise<{ outcome: 'accepted' | 'rejected' | 'crash'; code?: string; message?: string }> {
  try {
    await readDicomBytes(bytes, label, {});
    return { outcome: 'accepted' };
  } catch (error) {
    if (error instanceof DicomError) return { outcome: 'rejected', code: error.code };
    const e = error instanceof Error ? error : new Error(String(error));
    return { outcome: 'crash', message: `${e.name}: ${e.message} @ ${(e.stack ?? '').split('\n').slice(1, 3).join(' | ').trim()}` };
  }
}

let warming: Promise<unknown> = Promise.resolve();

port.on('message', (m: { warm?: boolean; start?: boolean; index?: number; label?: string; bytes?: Uint8Array }) => {
  if (m.warm === true && m.bytes !== undefined) {
    const bytes = m.bytes;
    warming = warming.then(() => read(bytes, 'warm-up'));
    return;
  }
  if (m.start === true) {
    // Warm-up reads (codec start-up) finish before the first timed case.
    void warming.then(() => port.postMessage({ ready: true }));
    return;
  }
  if (m.index === undefined || m.bytes === undefined) return;
  void read(m.bytes, m.label ?? `case ${m.index}`).then((report) => port.postMessage({ index: m.index, ...report }));
});
