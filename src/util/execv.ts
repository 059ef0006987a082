// Running this script again in place: same process id, environment and standard streams, new Node options. Node has
// process.execve from 22.15 and 23.11; on older Node the small hipfrac_process addon (native/process.cc) makes the
// same system call.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { builtAddonCandidates } from './addons.js';
import { HipfracError } from './errors.js';

type Execve = (file: string, args: string[], env: NodeJS.ProcessEnv) => never;

const nodeExecve = (): Execve | undefined => {
  const execve = (process as { execve?: Execve }).execve;
  return typeof execve === 'function' ? execve : undefined;
};
const addonFile = (): string | undefined => builtAddonCandidates('hipfrac_process.node').find((c) => existsSync(c));

/** What `rerunWithNodeOptions` would use here: Node's own process.execve, the addon, or nothing (it would throw). */
export function execvSource(): 'process.execve' | 'hipfrac_process addon' | undefined {
  if (nodeExecve() !== undefined) return 'process.execve';
  return addonFile() !== undefined ? 'hipfrac_process addon' : undefined;
}

/**
 * Replaces this process with `node <its options> <nodeOptions> <its script and arguments>`, with `env` added to its
 * environment. Returns only by throwing (HF_EXECV_UNAVAILABLE, or the system call's error).
 */
export function rerunWithNodeOptions(nodeOptions: readonly string[], env: Readonly<Record<string, string>> = {}): never {
  const args = [process.execPath, ...process.execArgv, ...nodeOptions, ...process.argv.slice(1)];
  const execve = nodeExecve();
  if (execve !== undefined) return execve(process.execPath, args, { ...process.env, ...env });
  const file = addonFile();
  if (file === undefined) {
    throw new HipfracError('HF_EXECV_UNAVAILABLE', 'this Node has no process.execve and the hipfrac_process addon is not built.', { input: builtAddonCandidates('hipfrac_process.node').join(', '), fix: 'run `bash scripts/setup.sh` (or `npx node-gyp rebuild -C native`).' });
  }
  const { execv } = createRequire(import.meta.url)(file) as { execv: (file: string, args: string[]) => never };
  // Assigning process.env sets the C environment, which execv hands to the new image.
  for (const [k, v] of Object.entries(env)) process.env[k] = v;
  return execv(process.execPath, args);
}
