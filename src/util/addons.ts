// Where the project's native addons (native/binding.gyp) are found once built: native/build/Release under the
// repository root, which is two levels above a room's module in the sources (src/room) and three in dist/.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The paths `fileName` (e.g. hipfrac_torch.node) may have, the compiled layout first. */
export function builtAddonCandidates(fileName: string): string[] {
  return [path.resolve(HERE, '../../../native/build/Release', fileName), path.resolve(HERE, '../../native/build/Release', fileName)];
}
