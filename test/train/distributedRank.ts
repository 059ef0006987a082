// One rank of the data-parallel proofs (test/train/distributed.test.ts, distributedSyncBn.test.ts): a toy CNN
// without BatchNorm (or, with HIPFRAC_TEST_MODEL=resnet18, torchvision's resnet18 with the fastai head, optionally
// with synchronised BatchNorm: HIPFRAC_TEST_SYNC_BN=1) trained for one epoch of 5 steps on its shard,
// rank/world/master from torchrun's environment variables. Each rank writes its parameters, float buffers and
// gathered validation to OUT.rank<r>.json; a failure prints its coded error and exits 1.
import { writeFileSync } from 'node:fs';
import { dispose, manualSeed, ProcessGroup, setNumThreads } from '../../src/torch/index.js';
import { convertSyncBatchNorm, SGD } from '../../src/nn/index.js';
import { createClassifier } from '../../src/models/index.js';
import { broadcastModule, configHash, DataParallel, hashSeed, Learner } from '../../src/train/index.js';
import { describeError } from '../../src/util/index.js';
import { toyData } from './toy.js';
import { PlainNet, ShardedSource } from './distributedToy.js';

export const TRAIN_SAMPLES = 160;
export const VALID_SAMPLES = 37;
export const LR = 0.05;

async function main(): Promise<void> {
  const rank = Number(process.env['RANK'] ?? 0);
  const worldSize = Number(process.env['WORLD_SIZE'] ?? 1);
  const out = process.env['HIPFRAC_TEST_OUT'] as string;
  const globalBatch = Number(process.env['HIPFRAC_TEST_GLOBAL_BATCH'] ?? 32);
  const epochs = Number(process.env['HIPFRAC_TEST_EPOCHS'] ?? 1);
  const lr = Number(process.env['HIPFRAC_TEST_LR'] ?? LR);
  setNumThreads(1);
  manualSeed(1234 + rank); // different on purpose: the broadcast from rank 0 must make the weights equal
  const arch = process.env['HIPFRAC_TEST_MODEL'] ?? 'PlainNet';
  const syncBn = process.env['HIPFRAC_TEST_SYNC_BN'] === '1';
  const size = Number(process.env['HIPFRAC_TEST_SIZE'] ?? 16);
  const dtype = process.env['HIPFRAC_TEST_DTYPE'] === 'float64' ? 'float64' : 'float32';
  // ps 0: no dropout, whose masks would differ between one process and two.
  const model = (arch === 'resnet18' ? createClassifier('resnet18', { numClasses: 2, head: 'fastai', ps: 0, weights: null }) : new PlainNet()).to(dtype);
  const shard = { rank, worldSize };
  const config = { model: arch, syncBn, size, dtype, globalBatch, lr, epochs, extra: process.env['HIPFRAC_TEST_CONFIG_EXTRA'] ?? '' };
  const plain = process.env['HIPFRAC_TEST_PLAIN'] === '1';
  const group = plain ? null : await ProcessGroup.create({
    masterAddr: process.env['MASTER_ADDR'] ?? '127.0.0.1',
    masterPort: Number(process.env['MASTER_PORT']),
    worldSize,
    rank,
    timeoutMs: Number(process.env['HIPFRAC_TEST_TIMEOUT_MS'] ?? 20000),
    configHash: configHash(config),
  });
  if (process.env['HIPFRAC_TEST_FAIL_RANK'] === String(rank)) process.exit(3); // a rank that crashes after joining
  if (group !== null) await broadcastModule(group, model);
  if (syncBn) convertSyncBatchNorm(model, group);
  const dump = process.env['HIPFRAC_TEST_DUMP'];
  if (dump !== undefined && rank === 0) {
    // What PyTorch's DDP needs to repeat this run: initial weights, data, and the epoch's global order.
    const data = toyData(TRAIN_SAMPLES, 7, size);
    writeFileSync(dump, JSON.stringify({
      params: Object.fromEntries([...model.namedParameters()].map(([name, p]) => [name, { shape: p.shape, values: Array.from(p.toFloat32Array()) }])),
      images: Array.from(data.images),
      labels: data.labels,
      size: data.size,
      order: new ShardedSource(data, globalBatch, true, { rank: 0, worldSize: 1 }).order(hashSeed(5, 'fit', 0)),
      globalBatch,
      lr,
      momentum: 0.9,
      steps: Math.ceil(TRAIN_SAMPLES / globalBatch),
    }));
  }
  const ddp = group === null ? undefined : new DataParallel(group, { bucketCapBytes: 1024 });
  const learner = new Learner({
    model,
    train: new ShardedSource(toyData(TRAIN_SAMPLES, 7, size), globalBatch / worldSize, true, shard, dtype),
    valid: new ShardedSource(toyData(VALID_SAMPLES, 8, size), 8, false, shard, dtype),
    optimizer: (groups) => new SGD(groups.map((params) => ({ params })), { lr, momentum: 0.9 }),
    seed: 5,
    ...(ddp === undefined ? {} : { dataParallel: ddp }),
    callbacks: [{ name: 'StepReport', afterBatch: (l: Learner) => void process.stdout.write(`step ${l.iteration}\n`) }],
  });
  if (process.env['HIPFRAC_TEST_VALIDATE_ONLY'] === '1') learner.lastValidation = await learner.validate();
  else await learner.fit(epochs, lr);
  const params = Object.fromEntries([...model.namedParameters()].map(([name, p]) => [name, p.toArray()]));
  const buffers = Object.fromEntries([...model.namedBuffers('', true)].filter(([, b]) => b.dtype.startsWith('float')).map(([name, b]) => [name, b.toArray()]));
  const v = learner.lastValidation;
  writeFileSync(`${out}.rank${rank}.json`, JSON.stringify({
    params,
    buffers,
    stats: ddp?.stats ?? null,
    validation: v === null ? null : { loss: v.loss, accuracy: v.accuracy, indices: Array.from(v.indices), logits: Array.from(v.logits), probs: Array.from(v.probs) },
  }));
  ddp?.release();
  dispose(model.parameters());
  group?.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${describeError(error)}\n`);
    process.exit(1);
  },
);
