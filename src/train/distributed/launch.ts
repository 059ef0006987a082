// The torchrun-style launcher: one child process per local rank with torchrun's environment (RANK, LOCAL_RANK,
// WORLD_SIZE, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT); a rank that fails ends the others after a
// grace period, and the launcher reports the first failure with a coded error.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { HipfracError } from '../../util/index.js';

export interface LaunchOptions {
  /** Processes on this node (torchrun --nproc-per-node). */
  readonly nprocPerNode: number;
  readonly nnodes?: number;
  readonly nodeRank?: number;
  readonly masterAddr?: string;
  readonly masterPort?: number;
  /** The script each rank runs (with `process.execPath`) and its arguments. */
  readonly script: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /**
   * After the first rank fails, how long the others get to end by themselves (their collectives fail with
   * HF_DIST_PEER_LOST or time out) before they are terminated. Default 60 s.
   */
  readonly graceMs?: number;
}

/** What a launch did: each local rank's exit. */
export interface RankExit {
  readonly rank: number;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The environment variable marking a rank process started by the launcher. */
export const RANK_ENV = 'RANK';

/** The rank, world and master of this process when a launcher started it (torchrun's variables), else null. */
export function rankFromEnvironment(env: NodeJS.ProcessEnv = process.env): { rank: number; worldSize: number; localRank: number; masterAddr: string; masterPort: number } | null {
  if (env[RANK_ENV] === undefined) return null;
  const rank = Number(env[RANK_ENV]);
  const worldSize = Number(env['WORLD_SIZE']);
  const masterPort = Number(env['MASTER_PORT']);
  if (![rank, worldSize, masterPort].every(Number.isInteger) || rank < 0 || rank >= worldSize) {
    throw new HipfracError('HF_DIST_BAD_RANK', `RANK=${env[RANK_ENV]}, WORLD_SIZE=${env['WORLD_SIZE']}, MASTER_PORT=${env['MASTER_PORT']} do not describe a rank.`, {
      fix: 'start ranks through `--nproc-per-node` (or torchrun) rather than setting these by hand.',
    });
  }
  return { rank, worldSize, localRank: Number(env['LOCAL_RANK'] ?? rank), masterAddr: env['MASTER_ADDR'] ?? '127.0.0.1', masterPort };
}

function checkOptions(o: LaunchOptions): string[] {
  const problems: string[] = [];
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  const port = o.masterPort ?? 29500;
  if (!Number.isInteger(o.nprocPerNode) || o.nprocPerNode < 1) problems.push(`--nproc-per-node must be a positive integer, got ${o.nprocPerNode}`);
  if (!Number.isInteger(nnodes) || nnodes < 1) problems.push(`--nnodes must be a positive integer, got ${nnodes}`);
  if (!Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes) problems.push(`--node-rank must be in [0, ${nnodes}), got ${nodeRank}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) problems.push(`--master-port must be a TCP port, got ${port}`);
  if (nnodes > 1 && (o.masterAddr === undefined || o.masterAddr === '')) problems.push('--master-addr is required with --nnodes > 1');
  return problems;
}

/** Resolves when `port` can be listened on (all interfaces, as the rendezvous store will). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, () => server.close(() => resolve(true)));
  });
}

/**
 * Runs `nprocPerNode` ranks of a `nnodes × nprocPerNode` world and waits for them. Resolves when every local
 * rank exits 0; otherwise rejects with HF_DIST_RANK_FAILED naming the first rank that failed.
 * @example await launchRanks({ nprocPerNode: 2, script: process.argv[1], args: ['train', '--data', 'd', '--out', 'o'] });
 */
export async function launchRanks(options: LaunchOptions): Promise<RankExit[]> {
  const problems = checkOptions(options);
  if (problems.length > 0) throw new HipfracError('HF_DIST_BAD_LAUNCH', `cannot launch: ${problems.join('; ')}.`, { fix: 'use torchrun\'s meanings: world size = --nnodes × --nproc-per-node.' });
  const nnodes = options.nnodes ?? 1;
  const nodeRank = options.nodeRank ?? 0;
  const masterAddr = options.masterAddr ?? '127.0.0.1';
  const masterPort = options.masterPort ?? 29500;
  const worldSize = nnodes * options.nprocPerNode;
  if (nodeRank === 0 && !(await portFree(masterPort))) {
    throw new HipfracError('HF_DIST_PORT_IN_USE', `the master port ${masterPort} is already in use on this node.`, { input: `--master-port ${masterPort}`, fix: 'choose a free --master-port.' });
  }
  const graceMs = options.graceMs ?? 60_000;
  const children: ChildProcess[] = [];
  const exits: (RankExit | undefined)[] = [];
  let firstFailure: RankExit | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const stopOthers = (): void => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    killTimer = setTimeout(() => {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, 5_000);
  };
  const forward = (signal: NodeJS.Signals): void => {
    for (const child of children) if (child.exitCode === null) child.kill(signal);
  };
  const onSigint = (): void => forward('SIGINT');
  const onSigterm = (): void => forward('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  try {
    await Promise.all(
      Array.from({ length: options.nprocPerNode }, (_, localRank) => {
        const rank = nodeRank * options.nprocPerNode + localRank;
        const child = spawn(process.execPath, [options.script, ...options.args], {
          stdio: 'inherit',
          env: {
            ...process.env,
            ...options.env,
            RANK: String(rank),
            LOCAL_RANK: String(localRank),
            WORLD_SIZE: String(worldSize),
            LOCAL_WORLD_SIZE: String(options.nprocPerNode),
            GROUP_RANK: String(nodeRank),
            MASTER_ADDR: masterAddr,
            MASTER_PORT: String(masterPort),
          },
        });
        children.push(child);
        return new Promise<void>((resolve) => {
          child.on('error', () => undefined);
          child.on('close', (code, signal) => {
            const exit = { rank, code, signal };
            exits[localRank] = exit;
            if ((code !== 0 || signal !== null) && firstFailure === undefined) {
              firstFailure = exit;
              graceTimer = setTimeout(stopOthers, graceMs);
            }
            resolve();
          });
        });
      }),
    );
  } finally {
    if (graceTimer !== undefined) clearTimeout(graceTimer);
    if (killTimer !== undefined) clearTimeout(killTimer);
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
  const all = exits.filter((e): e is RankExit => e !== undefined);
  if (firstFailure !== undefined) {
    const how = firstFailure.signal !== null ? `was killed by ${firstFailure.signal}` : `exited with code ${firstFailure.code}`;
    const others = all.filter((e) => e !== firstFailure && (e.code !== 0 || e.signal !== null)).map((e) => e.rank);
    throw new HipfracError('HF_DIST_RANK_FAILED', `rank ${firstFailure.rank} ${how}${others.length > 0 ? `; rank${others.length > 1 ? 's' : ''} ${others.join(', ')} stopped after it` : ''}.`, {
      fix: 'read the failing rank\'s error above; the last checkpoint in --out is intact (continue with --resume).',
    });
  }
  return all;
}
