// The store's checkpointer: a thread with its own connection that copies the write-ahead log into the database
// (a passive checkpoint, which never blocks the node's writer) on a timer, so that the copy and its disk flush do
// not run inside a commit on the node's event loop, as SQLite's automatic checkpoint would. A checkpoint that fails
// (another checkpoint running) is tried again at the next tick.
//
// Under a steady stream of commits a passive checkpoint never catches up with the writer, so SQLite never starts
// the log again from its beginning: the log grows for as long as the stream lasts (tens of megabytes per thousand
// received instances), every commit then writes into new blocks of the file (the kernel zeroes each page it
// extends), and every read searches a longer log index. Once the log holds more than `restartBytes`, a restart checkpoint
// copies the few frames the passive one left and waits for readers to move on, so that the next commit writes from
// the log's start again, over blocks the file already has. Writers wait while it runs (about a millisecond here);
// it gives up after `RESTART_WAIT_MS` and is tried at the next tick.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointThreadData {
  readonly file: string;
  readonly intervalMs: number;
  /** Log size, in bytes, above which the log is restarted from its beginning. */
  readonly restartBytes: number;
}

/** How long a restart checkpoint waits for a writer or a reader before it gives up until the next tick. */
const RESTART_WAIT_MS = 50;

if (parentPort === null) throw new Error('checkpointThread.ts runs as a worker thread started by SqliteStore');
const port = parentPort;
const { file, intervalMs, restartBytes } = workerData as CheckpointThreadData;
const database = new Database(file, { timeout: RESTART_WAIT_MS });
const pageSize = Number(database.pragma('page_size', { simple: true }));

interface CheckpointOutcome {
  readonly busy: number;
  /** Frames in the log. */
  readonly log: number;
  readonly checkpointed: number;
}

function checkpoint(): void {
  try {
    const [passive] = database.pragma('wal_checkpoint(PASSIVE)') as CheckpointOutcome[];
    // A frame is a page and its 24-byte header.
    if (passive !== undefined && passive.log * (pageSize + 24) > restartBytes) database.pragma('wal_checkpoint(RESTART)');
  } catch {
    // Busy: the next tick tries again.
  }
}

const timer = setInterval(checkpoint, intervalMs);
// Any message means close: one last checkpoint, then the connection and the thread end.
port.once('message', () => {
  clearInterval(timer);
  checkpoint();
  database.close();
  port.close();
});
