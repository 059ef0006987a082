// Two shortcuts in dcmjs-dimse's receive path, installed once for the process. Each keeps the library's results
// (test/serve/commandSet.test.ts compares them) and falls back to the library's own code for anything else.
//
// - Commands are read by `readCommandSet` instead of dcmjs's general reader, which builds a stream object per
//   element: a command set is a dozen fixed elements of group 0000.
// - Each received command is gathered in a `memorystream` write stream and copied out with its `toBuffer`, which
//   allocates through the deprecated `Buffer()`: Node then captures a stack trace on each call (for the first
//   10,000) to decide whether to warn. The same bytes, gathered with `Buffer.concat`.
// Together about half a millisecond per received instance on the event loop that receives.
import { createRequire } from 'node:module';
import dimse from 'dcmjs-dimse';
import { readCommandSet } from './commandSet.js';

const IMPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2';

type ElementsReader = (this: unknown, bytes: Buffer, transferSyntaxUid: string, options: unknown) => Record<string, unknown>;
interface DatasetInternals {
  _fromElementsBuffer: ElementsReader;
}

let installed = false;

/** dcmjs-dimse's own command reader (the fallback, and the reference the tests compare with). */
export const readElementsGeneral: ElementsReader = (dimse.Dataset.prototype as unknown as DatasetInternals)._fromElementsBuffer;

export function installDimseSpeedups(): void {
  if (installed) return;
  installed = true;
  const dataset = dimse.Dataset.prototype as unknown as DatasetInternals;
  if (typeof readElementsGeneral === 'function') {
    dataset._fromElementsBuffer = function fromElementsBuffer(this: unknown, bytes: Buffer, transferSyntaxUid: string, options: unknown) {
      return (transferSyntaxUid === IMPLICIT_VR_LITTLE_ENDIAN ? readCommandSet(bytes) : undefined) ?? readElementsGeneral.call(this, bytes, transferSyntaxUid, options);
    };
  }
  const requireFromDimse = createRequire(createRequire(import.meta.url).resolve('dcmjs-dimse'));
  const memoryStream = requireFromDimse('memorystream') as { createWriteStream(): object };
  const writable = Object.getPrototypeOf(memoryStream.createWriteStream()) as { toBuffer?: () => Buffer };
  if (typeof writable.toBuffer === 'function') {
    writable.toBuffer = function toBuffer(this: { queue: (Buffer | string)[] }): Buffer {
      return Buffer.concat(this.queue.map((d) => (typeof d === 'string' ? Buffer.from(d) : d)));
    };
  }
}
