// Password hashing: argon2id (the @node-rs/argon2 default, named here) with OWASP's minimum cost
// (19 MiB, 2 passes, 1 lane). The hash string carries its own parameters, so raising them later keeps old hashes valid.
import { hash, verify } from '@node-rs/argon2';
import { ReviewError } from './errors.js';

/** argon2id; the library's const enum is not importable under isolated modules, so its value is spelled out. */
const ARGON2ID = 2;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;

export function checkPasswordRules(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw new ReviewError('HF_REVIEW_BAD_USER', `the password has ${password.length} characters; ${MIN_PASSWORD_LENGTH}–${MAX_PASSWORD_LENGTH} are required.`, { input: 'password', fix: `choose a password of at least ${MIN_PASSWORD_LENGTH} characters (a passphrase).` });
  }
}

export function hashPassword(password: string): Promise<string> {
  checkPasswordRules(password);
  return hash(password, OPTIONS as never);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  if (stored === '' || password.length > MAX_PASSWORD_LENGTH) return false;
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A hash of a random password, verified against when the user name is unknown so both paths cost the same. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hash(`decoy-${Math.random()}-${Date.now()}`, OPTIONS as never);
  return decoy;
}
