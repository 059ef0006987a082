// Running this script again in place: same process id, environment and standard streams, new Node options. Node has
// process.execve from 22.15 and 23.11; on older Node the small hipfrac_process addon (native/process.cc) makes the
// same system call.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HipfracError } from './errors.js';

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

function addonCandidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // src/util → repo root is two levels up in the sources and three in dist/.
  return [path.resolve(here, '../../../native/build/Release/hipfrac_process.node'), path.resolve(here, '../../native/build/Release/hipfrac_process.node')];
}

/** What `rerunWithNodeOptions` would use here: Node's own process.execve, the addon, or nothing (it would throw). */
export function execvSource(): 'process.execve' | 'hipfrac_process addon' | undefined {
  if (typeof (process as { execve?: Execve }).execve === 'function') return 'process.execve';
  return addonCandidates().some((c) => existsSync(c)) ? 'hipfrac_process addon' : undefined;
}

function addonExecv(): (file: string, args: string[]) => never {
  const candidates = addonCandidates();
  const file = candidates.find((c) => existsSync(c));
  if (file === undefined) {
    throw new HipfracError('HF_EXECV_UNAVAILABLE', 'this Node has no process.execve and the hipfrac_process addon is not built.', { input: candidates.join(', '), fix: 'run `bash scripts/setup.sh` (or `npx node-gyp rebuild -C native`).' });
  }
  return (createRequire(import.meta.url)(file) as { execv: (file: string, args: string[]) => never }).execv;
}

/**
 * Replaces this process with `node <its options> <nodeOptions> <its script and arguments>`, with `env` added to its
 * environment. Returns only by throwing (HF_EXECV_UNAVAILABLE, or the system call's error).
 */
export function rerunWithNodeOptions(nodeOptions: readonly string[], env: Readonly<Record<string, string>> = {}): never {
  const args = [process.execPath, ...process.execArgv, ...nodeOptions, ...process.argv.slice(1)];
  const execve = (process as { execve?: Execve }).execve;
  if (typeof execve === 'function') return execve(process.execPath, args, { ...process.env, ...env });
  const execv = addonExecv();
  // Assigning process.env sets the C environment, which execv hands to the new image.
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  return execv(process.execPath, args);
}
