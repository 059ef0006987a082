// Sends Part 10 files to one destination over one association (dcmjs-dimse C-STORE SCU) and reports each file's status.
import dimse from 'dcmjs-dimse';
import type { Destination } from './destination.js';

const { Client, requests } = dimse;

export interface StoreScuResult {
  /** C-STORE status per file (0 = success); undefined when the association or the network failed first. */
  readonly statuses: ReadonlyMap<string, number>;
  readonly error: string | undefined;
}

/** C-STOREs `files` (absolute paths) to `to` as `callingAeTitle`; never rejects. */
export function storeFiles(files: readonly string[], to: Destination, callingAeTitle: string, timeoutMs = 30_000): Promise<StoreScuResult> {
  return new Promise((resolve) => {
    const statuses = new Map<string, number>();
    let error: string | undefined;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ statuses, error });
    };
    const client = new Client();
    for (const file of files) {
      const request = new requests.CStoreRequest(file);
      request.on('response', (response: { getStatus(): number }) => {
        statuses.set(file, response.getStatus());
      });
      client.addRequest(request);
    }
    client.on('associationRejected', (reject: { toString(): string } | undefined) => {
      error = `association rejected by ${to.aeTitle} (${String(reject)})`;
    });
    client.on('networkError', (e: Error) => {
      error = `network error: ${e.message}`;
      finish();
    });
    client.on('closed', finish);
    const timer = setTimeout(() => {
      error = `no answer from ${to.aeTitle} within ${timeoutMs} ms`;
      try {
        client.abort();
      } catch {
        // Nothing to abort: the connection never opened.
      }
      finish();
    }, timeoutMs);
    try {
      client.send(to.host, to.port, callingAeTitle, to.aeTitle, { connectTimeout: Math.min(timeoutMs, 10_000), associationTimeout: timeoutMs, pduTimeout: timeoutMs });
    } catch (e) {
      error = `cannot connect: ${(e as Error).message}`;
      finish();
    }
  });
}
