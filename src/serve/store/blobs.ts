// Content-addressed files under the data folder: objects/ab/<sha256>.dcm, written to a temporary name, renamed,
// and flushed with their folder; a file the store names as kept is complete on disk after a power cut.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fsync, mkdirSync, openSync, promises as fs, renameSync, rmSync, statfsSync, write } from 'node:fs';
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

/** fsync of an open descriptor on libuv's pool: the one step here that waits on the disk. */
function flush(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (error) => (error === null ? resolve() : reject(error))));
}

/** All of `bytes` written at the descriptor's position, on libuv's pool (one call for any object that fits one write). */
async function writeAll(fd: number, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    done += await new Promise<number>((resolve, reject) => write(fd, bytes, done, bytes.byteLength - done, null, (error, n) => (error === null ? resolve(n) : reject(error))));
  }
}

/**
 * Writes `bytes` under a temporary name and renames it into place, then flushes the file and its folder at once;
 * the returned promise settles when both are on disk. A file that a power cut catches before then may be
 * incomplete under its final name, so a caller names it in its records only once flushed (or, as ingest does,
 * marks the record unconfirmed until then), and rewrites it rather than trusting an existing one. A process killed
 * at any point leaves the final name absent or whole (the rename follows the whole write). Making the folder,
 * opening, closing and renaming touch only the page cache and run in line: each saves a round trip through libuv's
 * pool; the data and the two flushes run on the pool.
 */
async function writeFlushing(full: string, bytes: Uint8Array, madeDirs?: Set<string>): Promise<{ readonly durable: Promise<void> }> {
  const dir = path.dirname(full);
  const tmp = path.join(dir, `.${path.basename(full)}.${randomBytes(4).toString('hex')}.tmp`);
  let fd: number | undefined;
  let folder: number | undefined;
  try {
    if (madeDirs?.has(dir) !== true) {
      mkdirSync(dir, { recursive: true });
      madeDirs?.add(dir);
    }
    fd = openSync(tmp, 'w');
    await writeAll(fd, bytes);
    renameSync(tmp, full);
    folder = openSync(dir, constants.O_RDONLY);
  } catch (cause) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    // A folder removed behind the store's back is made again on the next write.
    madeDirs?.delete(dir);
    throw cause;
  }
  const file = fd;
  const dirFd = folder;
  const durable = Promise.all([flush(file), flush(dirFd)]).then(
    () => undefined,
    (cause: unknown) => {
      madeDirs?.delete(dir);
      throw cause;
    },
  ).finally(() => {
    closeSync(file);
    closeSync(dirFd);
  });
  // Whoever awaits `durable` sees a failure; this keeps an unawaited one from being reported as unhandled.
  durable.catch(() => undefined);
  return { durable };
}

export class BlobStore {
  readonly root: string;
  readonly minFreeBytes: number;
  /** Object folders known to exist (objects/ab): one mkdir each, not one per object. */
  readonly #madeDirs = new Set<string>();

  constructor(root: string, options: BlobStoreOptions = {}) {
    this.root = root;
    this.minFreeBytes = options.minFreeBytes ?? 256 * 1024 * 1024;
    // The 256 object folders are made once here (a few tens of milliseconds on a new store), not while a sender waits.
    if (existsSync(root)) {
      for (let i = 0; i < 256; i++) {
        const dir = path.join(root, 'objects', i.toString(16).padStart(2, '0'));
        mkdirSync(dir, { recursive: true });
        this.#madeDirs.add(dir);
      }
    }
  }

  /**
   * Free bytes on the data folder's file system. A direct statfs (about 10 µs here): the asynchronous one costs
   * more CPU on the event loop than the call itself, for every received object.
   */
  freeBytes(): number {
    const s = statfsSync(this.root);
    return Number(s.bavail) * Number(s.bsize);
  }

  /** Throws HF_SERVE_DISK_FULL when fewer than `minFreeBytes` plus `incoming` bytes are free. */
  checkSpace(incoming: number): void {
    const free = this.freeBytes();
    if (free < this.minFreeBytes + incoming) {
      throw new HipfracError('HF_SERVE_DISK_FULL', `only ${free} bytes free, ${this.minFreeBytes} kept in reserve; new instances are refused.`, { input: this.root, fix: 'free space on the data volume or move --data; stored instances are kept.' });
    }
  }

  /**
   * Writes `bytes` under `kind/` (objects, results, quarantine …) by content and starts flushing them: the relative
   * path is known at once, `durable` settles when the file is on disk (HF_SERVE_DISK_FULL / HF_SERVE_STORE on
   * failure). An existing file of that name is rewritten: it is either the same bytes or what a power cut left of
   * an unconfirmed write.
   */
  async stage(bytes: Uint8Array, kind = 'objects', extension = '.dcm'): Promise<{ readonly blob: StoredBlob; readonly durable: Promise<void> }> {
    this.checkSpace(bytes.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    // One level of 256 folders: a new folder costs a quarter of a millisecond, and ext4's hashed directories keep
    // a lookup fast with tens of thousands of files each. (Stores written with two levels keep their paths.)
    const rel = path.join(kind, sha256.slice(0, 2), `${sha256}${extension}`);
    const failure = (cause: unknown): HipfracError => {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        return new HipfracError('HF_SERVE_DISK_FULL', 'the data volume is full; the instance was not kept.', { input: this.root, fix: 'free space on the data volume.', cause });
      }
      return new HipfracError('HF_SERVE_STORE', `cannot write the object (${code ?? String(cause)}).`, { input: rel, cause });
    };
    let written: { readonly durable: Promise<void> };
    try {
      written = await writeFlushing(path.join(this.root, rel), bytes, this.#madeDirs);
    } catch (cause) {
      throw failure(cause);
    }
    const durable = written.durable.catch((cause: unknown) => {
      throw failure(cause);
    });
    durable.catch(() => undefined);
    return { blob: { sha256, file: rel, bytes: bytes.byteLength }, durable };
  }

  /** `stage`, resolved once the file is on disk. */
  async put(bytes: Uint8Array, kind = 'objects', extension = '.dcm'): Promise<StoredBlob> {
    const { blob, durable } = await this.stage(bytes, kind, extension);
    await durable;
    return blob;
  }

  /** Writes a file under a chosen relative name (heatmaps, result objects), durably on return, replacing any old one. */
  async write(rel: string, bytes: Uint8Array): Promise<string> {
    await (await writeFlushing(path.join(this.root, rel), bytes)).durable;
    return rel;
  }

  /** Whether the file at `rel` holds exactly the bytes whose sha256 is `sha256` (a missing file does not). */
  async holds(rel: string, sha256: string): Promise<boolean> {
    try {
      return createHash('sha256').update(await this.read(rel)).digest('hex') === sha256;
    } catch {
      return false;
    }
  }

  absolute(rel: string): string {
    return path.join(this.root, rel);
  }

  read(rel: string): Promise<Buffer> {
    return fs.readFile(this.absolute(rel));
  }
}
