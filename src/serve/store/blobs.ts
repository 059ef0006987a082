// Content-addressed files under the data folder: objects/ab/cd/<sha256>.dcm, written to a temporary name,
// fsynced, renamed and the folder fsynced, so a file the store names is complete on disk after a power cut.
import { createHash, randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { HipfracError } from '../../util/index.js';

export interface BlobStoreOptions {
  /** Refuse new objects when the file system has less free space than this, in bytes (default 256 MiB). */
  readonly minFreeBytes?: number;
}

export interface StoredBlob {
  readonly sha256: string;
  /** Relative to the data folder. */
  readonly file: string;
  readonly bytes: number;
}

async function fsyncPath(target: string, flags: number): Promise<void> {
  const handle = await fs.open(target, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Temporary name, write, fsync, rename, fsync the folder: the file is whole on disk, or absent. */
async function writeDurably(full: string, bytes: Uint8Array, madeDirs?: Set<string>): Promise<void> {
  const dir = path.dirname(full);
  if (madeDirs?.has(dir) !== true) {
    await fs.mkdir(dir, { recursive: true });
    madeDirs?.add(dir);
  }
  const tmp = path.join(dir, `.${path.basename(full)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, full);
    await fsyncPath(dir, constants.O_RDONLY);
  } catch (cause) {
    await fs.rm(tmp, { force: true });
    // A folder removed behind the store's back is made again on the next write.
    madeDirs?.delete(dir);
    throw cause;
  }
}

export class BlobStore {
  readonly root: string;
  readonly minFreeBytes: number;
  /** Object folders known to exist (objects/ab/cd): one mkdir each, not one per object. */
  readonly #madeDirs = new Set<string>();

  constructor(root: string, options: BlobStoreOptions = {}) {
    this.root = root;
    this.minFreeBytes = options.minFreeBytes ?? 256 * 1024 * 1024;
  }

  /** Free bytes on the data folder's file system. */
  async freeBytes(): Promise<number> {
    const s = await fs.statfs(this.root);
    return Number(s.bavail) * Number(s.bsize);
  }

  /** Throws HF_SERVE_DISK_FULL when fewer than `minFreeBytes` plus `incoming` bytes are free. */
  async checkSpace(incoming: number): Promise<void> {
    const free = await this.freeBytes();
    if (free < this.minFreeBytes + incoming) {
      throw new HipfracError('HF_SERVE_DISK_FULL', `only ${free} bytes free, ${this.minFreeBytes} kept in reserve; new instances are refused.`, { input: this.root, fix: 'free space on the data volume or move --data; stored instances are kept.' });
    }
  }

  /** Writes `bytes` under `kind/` (objects, results, quarantine …) by content; returns the relative path. Durable on return. */
  async put(bytes: Uint8Array, kind = 'objects', extension = '.dcm'): Promise<StoredBlob> {
    await this.checkSpace(bytes.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const rel = path.join(kind, sha256.slice(0, 2), sha256.slice(2, 4), `${sha256}${extension}`);
    const full = path.join(this.root, rel);
    try {
      const st = await fs.stat(full);
      if (st.size === bytes.byteLength) return { sha256, file: rel, bytes: bytes.byteLength };
    } catch {
      // Not there yet: write it.
    }
    try {
      await writeDurably(full, bytes, this.#madeDirs);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new HipfracError('HF_SERVE_DISK_FULL', 'the data volume is full; the instance was not kept.', { input: this.root, fix: 'free space on the data volume.', cause });
      }
      throw new HipfracError('HF_SERVE_STORE', `cannot write the object (${code ?? String(cause)}).`, { input: rel, cause });
    }
    return { sha256, file: rel, bytes: bytes.byteLength };
  }

  /** Writes a file under a chosen relative name (heatmaps, result objects), durably, replacing any old one. */
  async write(rel: string, bytes: Uint8Array): Promise<string> {
    await writeDurably(path.join(this.root, rel), bytes);
    return rel;
  }

  absolute(rel: string): string {
    return path.join(this.root, rel);
  }

  read(rel: string): Promise<Buffer> {
    return fs.readFile(this.absolute(rel));
  }
}
