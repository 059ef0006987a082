// `hipfrac doctor`: what engine this installation runs on (LibTorch, BLAS, threads, CUDA) and
// whether the addon loads, so a user can tell a broken install from a slow one.
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { describeError, execvSource } from '../../util/index.js';

export const doctorCommand: CliCommand = {
  name: 'doctor',
  summary: 'Check the installation: LibTorch version, BLAS, threads, CUDA, addon',
  usage: 'Usage: hipfrac doctor\n\nPrints the engine this installation runs on and exits non-zero if the addon cannot load.',
  async run(argv): Promise<number> {
    parseArgs({ args: [...argv], options: {} }); // it takes no options: anything else is a usage error
    console.log(`node        ${process.version} on ${os.platform()} ${os.arch()}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
    // How `hipfrac serve` starts again as node --single-threaded on few cores (docs/serving.md, "Few cores").
    const execv = execvSource();
    console.log(`execv       ${execv ?? 'not available (build native/: serve keeps V8\'s background threads on few cores)'}`);
    let torch: typeof import('../../torch/index.js');
    try {
      torch = await import('../../torch/index.js');
    } catch (error) {
      console.log(`addon       FAILED: ${describeError(error)}`);
      return 1;
    }
    const info = torch.buildInfo();
    const blasLine = /BLAS_INFO=([^,\s]+)/.exec(info.config)?.[1] ?? 'unknown';
    // A tiny sgemm maps the BLAS library into the process so /proc/self/maps names it.
    torch.tidy(() => torch.mm(torch.ones([64, 64]), torch.ones([64, 64])));
    console.log(`addon       loaded`);
    console.log(`libtorch    ${info.torchVersion}${info.cudaCompiled ? ' (CUDA build)' : ' (CPU build)'}`);
    console.log(`blas        build: ${blasLine}; loaded: ${torch.loadedBlas()}`);
    console.log(`threads     ${torch.getNumThreads()} intra-op (set HIPFRAC_THREADS to change)`);
    console.log(`cuda        ${torch.cuda.isAvailable() ? `available, ${torch.cuda.deviceCount()} device(s)` : 'not available'}`);
    const check = torch.tidy(() => torch.add(torch.tensor([1, 2, 3]), 1).toArray());
    const ok = check.join(',') === '2,3,4';
    console.log(`self-test   ${ok ? 'ok' : `FAILED (got ${check.join(',')})`}`);
    return ok ? 0 : 1;
  },
};
