// Pseudonymous keys: HMAC-SHA256 of an identifier under a secret salt kept outside any dataset, so the
// same patient always gets the same key (patient-level splits) while the key reveals nothing without the salt.
import { createHmac, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { DicomError } from './errors.js';

export interface SaltOptions {
  /** Path of the salt file; default $HIPFRAC_SALT_FILE, else ~/.config/hipfrac/salt. */
  readonly saltFile?: string;
  /** Directories the salt must not live in (e.g. the dataset being written). */
  readonly forbiddenDirs?: readonly string[];
}

export function defaultSaltFile(): string {
  return process.env['HIPFRAC_SALT_FILE'] ?? resolve(homedir(), '.config', 'hipfrac', 'salt');
}

function inside(child: string, parent: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Loads the salt, creating a random 256-bit one (mode 0600) when the file does not exist yet. */
export async function loadSalt(options: SaltOptions = {}): Promise<Buffer> {
  const file = resolve(options.saltFile ?? defaultSaltFile());
  for (const dir of options.forbiddenDirs ?? []) {
    if (inside(file, dir)) {
      throw new DicomError('HF_DICOM_SALT', 'The salt file lies inside the dataset directory: anyone holding the dataset could re-identify patients.', {
        file,
        fix: `Keep the salt outside ${dir}, e.g. the default ~/.config/hipfrac/salt or --salt-file /secure/place/salt.`,
      });
    }
  }
  try {
    const text = (await readFile(file, 'utf8')).trim();
    if (text.length < 32) {
      throw new DicomError('HF_DICOM_SALT', `The salt file holds ${text.length} characters; at least 32 are needed.`, { file, fix: 'Delete it to have a new random salt made (patient keys will change), or put a longer secret in it.' });
    }
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) await chmod(file, 0o600);
    return Buffer.from(text, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const salt = randomBytes(32).toString('hex');
    // 'wx' refuses to overwrite a salt another process created meanwhile.
    try {
      await writeFile(file, `${salt}\n`, { mode: 0o600, flag: 'wx' });
    } catch (raced) {
      if ((raced as NodeJS.ErrnoException).code !== 'EEXIST') throw raced;
      return Buffer.from((await readFile(file, 'utf8')).trim(), 'utf8');
    }
    return Buffer.from(salt, 'utf8');
  }
}

/** Keyed hash of an identifier in a namespace ("patient", "study", "uid"), hex. */
export function keyedHash(salt: Uint8Array, namespace: string, value: string): string {
  return createHmac('sha256', salt).update(`${namespace}\u0000${value}`).digest('hex');
}

/** A short pseudonymous key (16 hex digits = 64 bits: collisions negligible for any hospital archive). */
export function pseudonymKey(salt: Uint8Array, namespace: string, value: string): string {
  return keyedHash(salt, namespace, value).slice(0, 16);
}

/** A new UID under the 2.25 (UUID-derived) root, stable for the same original UID and salt. */
export function pseudonymousUid(salt: Uint8Array, uid: string): string {
  const hex = keyedHash(salt, 'uid', uid).slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}
