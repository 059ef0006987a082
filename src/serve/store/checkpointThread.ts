// The store's checkpointer: a thread with its own connection that copies the write-ahead log into the database
// (a passive checkpoint, which never blocks the node's writer) on a timer, so that the copy and its disk flush do
// not run inside a commit on the node's event loop, as SQLite's automatic checkpoint would. A checkpoint that fails
// (another checkpoint running) is tried again at the next tick.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointThreadData {
  readonly file: string;
  readonly intervalMs: number;
}

if (parentPort === null) throw new Error('checkpointThread.ts runs as a worker thread started by SqliteStore');
const port = parentPort;
const { file, intervalMs } = workerData as CheckpointThreadData;
const database = new Database(file, { timeout: 5000 });

function checkpoint(): void {
  try {
    database.pragma('wal_checkpoint(PASSIVE)');
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
