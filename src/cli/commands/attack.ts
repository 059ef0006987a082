// `hipfrac attack`: how easily a checkpoint is fooled — accuracy and attack success rate per ε for FGSM or PGD
// (or a rotation-translation search), optionally with test-time augmentation, and a gallery of examples.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { CliError } from '../errors.js';
import {
  adversarialGallery,
  epsilonSweep,
  Fgsm,
  Pgd,
  predictedClasses,
  modelPredictor,
  RotationTranslationAttack,
  TestTimeAugmentation,
  writeGalleryPngs,
  type AttackFactory,
  type LabelledBatch,
} from '../../robust/index.js';
import { dispose, tensor, tidy } from '../../torch/index.js';
import { collectInputs, modelInput, readImageLabels } from '../../data/index.js';
import { batchesOf, CHECKPOINT_FLAGS, checkpointCard, checkpointReader, loadModel, numberOption, positiveInt, requireLabelled, singlePositional } from '../options.js';

const usage = `Usage: hipfrac attack <png|dicom|dir> --model CKPT_DIR [--device cpu|cuda[:N]] [--rois FILE] [--labels labels.csv] [--attack fgsm|pgd|rotation]
                      [--eps 0,0.5,1,2,4,8] [--steps 10] [--tta N] [--gallery K] [--out DIR] [--seed S]

Attacks the images in [0, 1] pixel space and reports, per ε (in /255), the accuracy on the attacked images
and the attack success rate (share of correctly classified images that flip). Without --labels the model's
own predictions are the labels (success = the decision flips). --tta N also classifies with N-view
test-time augmentation (attacks crafted on the plain model). --attack rotation searches ±30° and ±3 px
instead of ε. Writes DIR/attack.json and, with --gallery K, K clean/perturbation/adversarial PNG triples.`;

function parseEps(text: string): number[] {
  const values = text.split(',').map((s) => Number(s.trim()));
  if (values.some((v) => !Number.isFinite(v) || v < 0 || v > 255)) {
    throw new CliError('HF_CLI_BAD_OPTION', `--eps takes budgets in /255 units between 0 and 255, separated by commas; got '${text}'.`, { input: '--eps', fix: 'e.g. --eps 0,0.5,1,2,4,8' });
  }
  return values.map((v) => v / 255);
}

export const attackCommand: CliCommand = {
  name: 'attack',
  summary: 'Accuracy under FGSM/PGD/rotation attacks per ε, with and without test-time augmentation',
  usage,
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        ...CHECKPOINT_FLAGS,
        labels: { type: 'string' },
        attack: { type: 'string', default: 'fgsm' },
        eps: { type: 'string', default: '0,0.5,1,2,4,8' },
        steps: { type: 'string' },
        tta: { type: 'string' },
        gallery: { type: 'string' },
        out: { type: 'string' },
        seed: { type: 'string' },
        batch: { type: 'string' },
      },
    });
    const input = singlePositional(positionals, 'input', usage.split('\n')[0] ?? '');
    const eps = parseEps(values.eps as string);
    const steps = positiveInt(values.steps, 10, '--steps');
    const seed = numberOption(values.seed, '--seed') ?? 0;
    const batchSize = positiveInt(values.batch, 16, '--batch');
    const kind = values.attack as string;
    if (!['fgsm', 'pgd', 'rotation'].includes(kind)) throw new CliError('HF_CLI_BAD_OPTION', `unknown attack '${kind}'.`, { input: '--attack', fix: 'use fgsm, pgd or rotation.' });
    const files = collectInputs(input);
    const checked = checkpointCard(values.model);
    const reader = checkpointReader(values.model, checked, values.rois);
    const read = reader.read;
    const labels = values.labels === undefined ? undefined : await readImageLabels(values.labels, checked.classes);
    if (labels !== undefined) requireLabelled(files, labels);
    const { model, card } = loadModel(values.model, values.device);
    reader.use(model);
    // Images are loaded once and kept as batches: a sweep reads them once per ε.
    const batches: LabelledBatch[] = [];
    for (const names of batchesOf(files, batchSize)) {
      const radiographs = await Promise.all(names.map(read));
      const images = modelInput(radiographs, card.inputSize);
      let y: number[];
      if (labels === undefined) {
        y = predictedClasses(modelPredictor(model), images);
      } else {
        y = radiographs.map((r) => {
          const label = labels.labelOf(r.file);
          if (label === undefined) throw new CliError('HF_CLI_BAD_LABELS', 'an image has no row in the labels CSV.', { input: r.file, fix: 'add "file,label" for every image, or leave out --labels.' });
          return label;
        });
      }
      batches.push({ images, labels: tensor(BigInt64Array.from(y, (v) => BigInt(v)), [y.length]) });
    }
    const factory: AttackFactory =
      kind === 'pgd' ? (m, e) => new Pgd(m, { eps: e, alpha: Math.max(e / 4, 1 / 255 / 4), steps, seed }) : (m, e) => new Fgsm(m, { eps: e });
    const result: Record<string, unknown> = { attack: kind, labelsFrom: labels === undefined ? 'model predictions' : values.labels, n: files.length };
    if (kind === 'rotation') {
      const rt = new RotationTranslationAttack(model);
      let correct = 0;
      let cleanCorrect = 0;
      let flipped = 0;
      for (const b of batches) {
        const y = b.labels.toArray();
        const clean = predictedClasses(modelPredictor(model), b.images);
        const attacked = tidy(() => predictedClasses(modelPredictor(model), rt.run(b.images, b.labels)));
        y.forEach((t, i) => {
          if (attacked[i] === t) correct += 1;
          if (clean[i] === t) {
            cleanCorrect += 1;
            if (attacked[i] !== t) flipped += 1;
          }
        });
      }
      result['rotationTranslation'] = { accuracy: correct / files.length, attackSuccessRate: cleanCorrect === 0 ? null : flipped / cleanCorrect, grid: '±30° × ±3 px' };
      console.log(`rotation+translation: accuracy ${(100 * correct / files.length).toFixed(1)} %, success rate ${cleanCorrect === 0 ? 'n/a' : `${(100 * flipped / cleanCorrect).toFixed(1)} %`}`);
    } else {
      const rows = epsilonSweep(model, batches, { eps, attack: factory });
      result['sweep'] = rows;
      const tta = values.tta === undefined ? undefined : new TestTimeAugmentation({ views: positiveInt(values.tta, 8, '--tta'), seed });
      const ttaRows = tta === undefined ? undefined : epsilonSweep(model, batches, { eps, attack: factory, predictor: tta.predictor(model) });
      if (ttaRows !== undefined) result['sweepWithTta'] = ttaRows;
      console.log(`ε (/255)  accuracy  success${ttaRows === undefined ? '' : '  accuracy with TTA'}`);
      rows.forEach((r, i) => {
        const t = ttaRows?.[i];
        console.log(`${(r.eps * 255).toFixed(2).padStart(8)}  ${(100 * r.accuracy).toFixed(1).padStart(7)} %  ${Number.isNaN(r.attackSuccessRate) ? '    n/a' : `${(100 * r.attackSuccessRate).toFixed(1).padStart(5)} %`}${t === undefined ? '' : `  ${(100 * t.accuracy).toFixed(1).padStart(6)} %`}`);
      });
    }
    const outDir = values.out ?? 'attack';
    await mkdir(outDir, { recursive: true });
    const galleryCount = values.gallery === undefined ? 0 : positiveInt(values.gallery, 8, '--gallery');
    if (galleryCount > 0 && batches[0] !== undefined) {
      const largest = Math.max(...eps);
      const attack = kind === 'rotation' ? new RotationTranslationAttack(model) : factory(model, largest);
      const examples = tidy(() => adversarialGallery(model, (batches[0] as LabelledBatch).images, (batches[0] as LabelledBatch).labels, attack, { limit: galleryCount }));
      const gallery = [];
      for (const e of examples) {
        const files = await writeGalleryPngs(e, path.join(outDir, 'gallery'), `case${e.index}`);
        gallery.push({ index: e.index, label: e.label, clean: e.clean, adversarial: e.adversarial, linf: e.linf, files });
      }
      result['gallery'] = gallery;
    }
    await writeFile(path.join(outDir, 'attack.json'), `${JSON.stringify(result, null, 2)}\n`);
    dispose(batches);
    model.dispose();
    return 0;
  },
};
