// Positional reads from a weight file, so a 500 MB VGG checkpoint is never held whole in JS memory:
// tensor bytes pass through one reused scratch buffer straight into native tensors.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { NnError } from '../errors.js';

export class FileReader {
  readonly size: number;
  private readonly fd: number;
  private scratch = Buffer.alloc(0);

  constructor(readonly file: string) {
    try {
      this.fd = openSync(file, 'r');
      this.size = fstatSync(this.fd).size;
    } catch (error) {
      throw new NnError('HF_IO_READ', `cannot read the weight file: ${(error as Error).message}`, { input: file, fix: 'check the path and its permissions.', cause: error });
    }
  }

  /** `length` bytes at `offset` in a new buffer (throws HF_IO_TRUNCATED past the end). */
  read(offset: number, length: number): Buffer {
    this.check(offset, length);
    return this.fill(Buffer.allocUnsafe(length), offset, length);
  }

  /** Like read(), into a buffer reused by the next readShared(): consume (copy) it at once. */
  readShared(offset: number, length: number): Buffer {
    this.check(offset, length);
    if (this.scratch.length < length) this.scratch = Buffer.allocUnsafe(length);
    return this.fill(this.scratch, offset, length).subarray(0, length);
  }

  private check(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new NnError('HF_IO_TRUNCATED', `the file ends at byte ${this.size}, but ${length} bytes are needed at byte ${offset}.`, {
        input: this.file,
        fix: 'the file is truncated or damaged; download or copy it again.',
      });
    }
  }

  private fill(target: Buffer, offset: number, length: number): Buffer {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, done, length - done, offset + done);
      if (n === 0) throw new NnError('HF_IO_TRUNCATED', `the file shrank while being read (at byte ${offset + done}).`, { input: this.file });
      done += n;
    }
    return target;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Runs `fn` with an open reader and closes it afterwards. */
export function withFileReader<T>(file: string, fn: (reader: FileReader) => T): T {
  const reader = new FileReader(file);
  try {
    return fn(reader);
  } finally {
    reader.close();
  }
}
