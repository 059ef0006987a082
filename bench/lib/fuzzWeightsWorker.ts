// Child-process side of the weight-file fuzzer (a process, not a thread: tensors come from the torch addon).
// Each case is written to a scratch file and read with readPth or readSafetensors; the report is accepted,
// rejected (a HipfracError code) or crash (anything else).
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPth, readSafetensors } from '../../src/nn/index.js';
import { HipfracError } from '../../src/util/index.js';

const scratch = join(tmpdir(), `hipfrac-fuzz-weights-${process.pid}`);
process.on('exit', () => rmSync(scratch, { force: true }));

function read(bytes: Uint8Array, label: string): { outcome: 'accepted' | 'rejected' | 'crash'; code?: string; message?: string } {
  writeFileSync(scratch, bytes);
  try {
    const tensors = label.startsWith('safetensors') ? readSafetensors(scratch).tensors : readPth(scratch).tensors;
    for (const t of tensors.values()) t.dispose();
    return { outcome: 'accepted' };
  } catch (error) {
    if (error instanceof HipfracError) return { outcome: 'rejected', code: error.code };
    const e = error instanceof Error ? error : new Error(String(error));
    return { outcome: 'crash', message: `${e.name}: ${e.message} @ ${(e.stack ?? '').split('\n').slice(1, 3).join(' | ').trim()}` };
  }
}

process.on('message', (m: { warm?: boolean; start?: boolean; index?: number; label?: string; bytes?: Uint8Array }) => {
  if (m.warm === true) return;
  if (m.start === true) {
    process.send?.({ ready: true });
    return;
  }
  if (m.index === undefined || m.bytes === undefined) return;
  process.send?.({ index: m.index, ...read(m.bytes, m.label ?? '') });
});
