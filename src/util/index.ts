// Small shared helpers every room may use: coded errors, seeded randomness, progress bars, running again in place.
export { HipfracError, describeError } from './errors.js';
export type { HipfracErrorDetails } from './errors.js';
export { Rng } from './rng.js';
export { logGamma } from './special.js';
export { ProgressBar, formatSeconds } from './progress.js';
export { execvSource, rerunWithNodeOptions } from './execv.js';
export { builtAddonCandidates } from './addons.js';
export type { ProgressOptions } from './progress.js';
