// SRs and source headers produced on a worker thread (srThread.ts). One thread, requests answered in order of
// arrival; a thread that dies fails the requests in hand (the study is decided again on the next tick) and is
// started again on the next request.
import { Worker } from 'node:worker_threads';
import type { NaturalDataset } from 'dcmjs';
import type { TriageSrInput } from '../../dicom/index.js';
import { HipfracError } from '../../util/index.js';

export type SrThreadRequest =
  | { readonly id: number; readonly kind: 'sr'; readonly sourceFile: string; readonly input: Omit<TriageSrInput, 'source'> }
  | { readonly id: number; readonly kind: 'header'; readonly sourceFile: string };

export type SrThreadReply =
  | { readonly id: number; readonly ok: true; readonly bytes?: Uint8Array; readonly header?: NaturalDataset }
  | { readonly id: number; readonly ok: false; readonly message: string };

interface Waiting {
  readonly resolve: (reply: SrThreadReply & { ok: true }) => void;
  readonly reject: (error: Error) => void;
  readonly file: string;
}

export class SrWriter {
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiting>();
  #next = 1;
  #closed = false;

  /** The SR for `input`, with the patient/study context of `sourceFile` (an absolute path to a stored instance). */
  async sr(sourceFile: string, input: Omit<TriageSrInput, 'source'>): Promise<Buffer> {
    const reply = await this.#ask({ kind: 'sr', sourceFile, input });
    const bytes = reply.bytes as Uint8Array;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The attributes a result copies from `sourceFile` (resultContext: patient, study, the source's SOP class and instance). */
  async header(sourceFile: string): Promise<NaturalDataset> {
    return (await this.#ask({ kind: 'header', sourceFile })).header as NaturalDataset;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  #ask(request: { kind: 'sr'; sourceFile: string; input: Omit<TriageSrInput, 'source'> } | { kind: 'header'; sourceFile: string }): Promise<SrThreadReply & { ok: true }> {
    if (this.#closed) return Promise.reject(new HipfracError('HF_SERVE_RESULT', 'the node is closing; the result is made after the restart.', { input: request.sourceFile }));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, file: request.sourceFile });
      this.#thread().postMessage({ ...request, id } satisfies SrThreadRequest);
    });
  }

  #thread(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(new URL('./srThread.js', import.meta.url));
    // The node's own handles keep the process alive; this thread must not hold it open after close().
    worker.unref();
    worker.on('message', (reply: SrThreadReply) => {
      const waiting = this.#waiting.get(reply.id);
      if (waiting === undefined) return;
      this.#waiting.delete(reply.id);
      if (reply.ok) waiting.resolve(reply);
      else waiting.reject(new HipfracError('HF_SERVE_RESULT', `cannot write the study's result: ${reply.message}`, { input: waiting.file }));
    });
    const fail = (why: string): void => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const [id, waiting] of this.#waiting) {
        this.#waiting.delete(id);
        waiting.reject(new HipfracError('HF_SERVE_RESULT', `the SR writer's thread stopped (${why}); the study is decided again.`, { input: waiting.file }));
      }
    };
    worker.on('error', (error) => fail(error.message));
    worker.on('exit', (code) => fail(`exit ${code}`));
    this.#worker = worker;
    return worker;
  }
}
