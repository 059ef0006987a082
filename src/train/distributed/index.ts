// Data-parallel training over c10d: the Learner's hooks (bucketed gradient all-reduce, gathered validation),
// parameter broadcast, configuration hashing, and the torchrun-style launcher of one process per rank.
export { DataParallel, broadcastModule, configHash } from './dataParallel.js';
export type { DataParallelOptions, ReduceStats } from './dataParallel.js';
export { gatherValidation } from './gatherValidation.js';
export { launchRanks, rankFromEnvironment, RANK_ENV } from './launch.js';
export type { LaunchOptions, RankExit } from './launch.js';
