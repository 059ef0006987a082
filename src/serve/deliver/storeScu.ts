// Sends Part 10 files to one destination over one association (dcmjs-dimse C-STORE SCU) and reports each file's status.
// Each file's data set goes out as it is stored (no decode and re-encode) when the destination accepts its transfer
// syntax; dcmjs-dimse transcodes only when the destination chose the other little-endian syntax.
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import dimse from 'dcmjs-dimse';
import { splitPart10 } from '../../dicom/index.js';
import type { Destination } from './destination.js';

const { Client, Dataset, requests } = dimse;

/**
 * A data set already encoded: dcmjs-dimse asks it for its bytes (getDenaturalizedDataset) when it sends it as stored;
 * its elements are read from those bytes only if dcmjs-dimse must transcode it.
 */
class EncodedDataset extends Dataset {
  #decoded = false;

  constructor(private readonly encoded: Buffer, transferSyntaxUid: string, sopClassUid: string, sopInstanceUid: string) {
    super({ SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid }, transferSyntaxUid);
  }

  override getDenaturalizedDataset(): Buffer {
    return this.encoded;
  }

  override getElements(): Record<string, unknown> {
    if (!this.#decoded) {
      this.#decoded = true;
      Object.assign(super.getElements(), new Dataset(this.encoded, this.getTransferSyntaxUid()).getElements());
    }
    return super.getElements();
  }
}

/** A C-STORE request for a stored Part 10 file, its data set sent byte for byte. */
async function encodedStoreRequest(file: string): Promise<InstanceType<typeof requests.CStoreRequest>> {
  const bytes = await readFile(file);
  const { meta, dataset } = splitPart10(bytes, file);
  return new requests.CStoreRequest(new EncodedDataset(Buffer.from(dataset.buffer, dataset.byteOffset, dataset.byteLength), meta.transferSyntaxUid, meta.sopClassUid, meta.sopInstanceUid));
}

export interface StoreScuResult {
  /** C-STORE status per file (0 = success); undefined when the association or the network failed first. */
  readonly statuses: ReadonlyMap<string, number>;
  readonly error: string | undefined;
}

/** C-STOREs `files` (absolute paths) to `to` as `callingAeTitle`; never rejects. */
export async function storeFiles(files: readonly string[], to: Destination, callingAeTitle: string, timeoutMs = 30_000): Promise<StoreScuResult> {
  const statuses = new Map<string, number>();
  const requestOf = new Map<string, InstanceType<typeof requests.CStoreRequest>>();
  let unreadable: string | undefined;
  for (const file of files) {
    try {
      requestOf.set(file, await encodedStoreRequest(file));
    } catch (error) {
      // An unreadable result file gets no status (its delivery is retried with this reason); the others still go.
      unreadable = `cannot read ${file}: ${(error as Error).message}`;
    }
  }
  if (requestOf.size === 0) return { statuses, error: unreadable ?? 'nothing to send' };
  return new Promise((resolve) => {
    let error: string | undefined = unreadable;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ statuses, error });
    };
    const client = new Client();
    for (const [file, request] of requestOf) {
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
      // No Nagle delay: each C-STORE's command and data PDUs go out at once (with it, a peer's delayed ACK costs
      // ~40-90 ms per object on loopback). dcmjs-dimse keeps the socket on its network object and has no option for it.
      (client as unknown as { network?: { socket?: Socket } }).network?.socket?.setNoDelay(true);
    } catch (e) {
      error = `cannot connect: ${(e as Error).message}`;
      finish();
    }
  });
}
