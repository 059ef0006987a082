// `hipfrac serve`: runs the DICOM node next to a PACS until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { CliError } from '../errors.js';
import { applySingleThreaded, resolveServeConfig, startServeNode } from '../../serve/index.js';

const usage = `Usage: hipfrac serve --model CKPT_DIR --data DIR [--config serve.json] [--ae-title T] [--dicom-port P]
                     [--http-port Q] [--host ADDR] [--destination AE@HOST:PORT ...] [--allow-ae AE ...] [--workers N]
                     [--engine auto|onnx|libtorch]

Runs the DICOM node: C-ECHO/C-STORE SCP (and STOW-RS at POST /dicomweb/studies) for hip radiographs, a durable
queue in DIR (SQLite + received files), inference in N worker processes (ONNX Runtime on the checkpoint's ONNX export when it has parity with LibTorch,
else LibTorch; --engine forces one; heatmaps always LibTorch; threads from HIPFRAC_THREADS) with the checkpoint's triage policy
(hipfrac triage-calibrate --write), and per study a DICOM SR (plus a Secondary Capture with heatmap per image
sent to review) C-STOREd to every --destination, retried until delivered. HTTP API: /v1/health, /v1/studies,
/metrics (tokens from hipfrac token create). Defaults: AE HIPFRAC, DICOM port 11112, HTTP 8080, host 127.0.0.1.
Flags win over the config file; docs/serving.md lists every setting.`;

const int = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CliError('HF_CLI_BAD_OPTION', `${name} must be an integer, got '${v}'.`, { input: name, fix: `e.g. ${name} 11112` });
  return n;
};

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'DICOM node: receive radiographs from PACS, triage them, return SR and heatmap captures',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: 'string' },
        config: { type: 'string' },
        data: { type: 'string' },
        'ae-title': { type: 'string' },
        'dicom-port': { type: 'string' },
        'http-port': { type: 'string' },
        host: { type: 'string' },
        destination: { type: 'string', multiple: true },
        'allow-ae': { type: 'string', multiple: true },
        workers: { type: 'string' },
        engine: { type: 'string' },
      },
    });
    // Without a config file, --model and --data are the two settings a node cannot do without.
    if (values.config === undefined && (values.model === undefined || values.data === undefined)) {
      throw new CliError('HF_CLI_MISSING_OPTION', `${values.model === undefined ? '--model' : '--data'} is required (or --config FILE with modelDir and dataDir).`, { fix: 'e.g. hipfrac serve --model runs/demo/model --data /var/lib/hipfrac' });
    }
    const config = resolveServeConfig(values.config, {
      modelDir: values.model,
      dataDir: values.data,
      aeTitle: values['ae-title'],
      dicomPort: int(values['dicom-port'], '--dicom-port'),
      httpPort: int(values['http-port'], '--http-port'),
      host: values.host,
      destinations: values.destination,
      allowedCallingAes: values['allow-ae'],
      workers: int(values.workers, '--workers'),
      engine: values.engine,
    });
    // With few cores the node runs without V8's background threads: it may start again in place here (same pid).
    const note = applySingleThreaded(config.singleThreaded);
    if (note !== undefined) console.error(`hipfrac serve: ${note}`);
    const node = await startServeNode(config);
    console.error(`hipfrac serve: AE ${config.aeTitle} on ${config.host}:${node.dicomPort} (DICOM), http://${config.host}:${node.httpPort} (HTTP)`);
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await node.close();
    return 0;
  },
};
