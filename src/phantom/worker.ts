// Worker-thread entry for generateCohort: receives one image task at a time, renders, encodes and writes it.
// Replies with the truth (no pixel bytes cross back) so the main thread only assembles labels and annotations.
import { parentPort } from 'node:worker_threads';
import { type WorkerReply, type WorkerTask, processTask } from './cohort.js';

const port = parentPort;
if (port !== null) {
  port.on('message', (task: WorkerTask) => {
    let reply: WorkerReply;
    try {
      reply = { ok: true, result: processTask(task) };
    } catch (e) {
      reply = { ok: false, index: task.image.index, message: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) };
    }
    port.postMessage(reply);
  });
}
