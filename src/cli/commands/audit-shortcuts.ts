// `hipfrac audit-shortcuts`: does the model lean on shortcuts? Nuisance-label probes on its features and the fracture
// signal those labels carry, AUC with burned-in markers masked, and heat inside the fracture boxes against a random
// heatmap (src/audit); the run's report.html gets the audit as its "Shortcut audit" section.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { CliCommand } from '../command.js';
import { auditHtml, auditMarkdown, auditShortcuts } from '../../audit/index.js';
import { requireDataset } from '../../data/index.js';
import { addSectionToReportFile } from '../../report/index.js';
import { shortcutAuditSection } from '../../report/sections/index.js';
import { CliError } from '../errors.js';
import { checkpointCard, loadModel, positiveInt } from '../options.js';

const usage = `Usage: hipfrac audit-shortcuts --model CKPT_DIR --data DATASET [--out DIR] [--marker-truth annotations.json]
                                [--probe-images N] [--batch N] [--seed N] [--device cpu|cuda[:N]]

Measured on the dataset's test images (validation when the split has none):
  (a) linear probes from the model's pooled features to nuisance labels of the manifest (view, body part, orthopaedic hardware) and
      to burned-in marker presence (the marker detector), fitted on training images: accuracy against the majority
      class, balanced accuracy and ROC AUC against chance, held out and 5-fold cross-validated; and per label the
      fracture signal it carries: the AUC of the label alone, and the model's AUC within the label's groups;
  (b) ROC AUC with burned-in markers and text masked (filled with local background) against unmasked;
  (c) pointing game and heat share inside the fracture boxes (Grad-CAM, and the box head when the model has one)
      against a random heatmap, where the data carry boxes.
--marker-truth scores the marker detector against known markers (a phantom cohort's annotations.json).
Writes DIR/audit.json, DIR/audit.md and DIR/audit.html; DIR defaults to ./audit. When the model is a run's
model/ folder with the run's report.html beside it (\`hipfrac train --out RUN\`), RUN/report.html gets (or has
replaced) a "Shortcut audit" section.`;

export const auditShortcutsCommand: CliCommand = {
  name: 'audit-shortcuts',
  summary: 'Shortcut audit: nuisance-label probes, AUC with burned-in markers masked, heat in fracture boxes',
  usage,
  async run(argv) {
    const { values } = parseArgs({
      args: [...argv],
      options: {
        model: { type: 'string' },
        data: { type: 'string' },
        out: { type: 'string', default: 'audit' },
        'marker-truth': { type: 'string' },
        'probe-images': { type: 'string' },
        batch: { type: 'string' },
        seed: { type: 'string' },
        device: { type: 'string', default: 'cpu' },
      },
      allowPositionals: false,
    });
    if (values.data === undefined) throw new CliError('HF_CLI_MISSING_OPTION', '--data is required.', { fix: 'pass --data DATASET (a folder `hipfrac import` wrote, split with `hipfrac split`).' });
    const maxProbeImages = positiveInt(values['probe-images'], 1000, '--probe-images');
    const batchSize = positiveInt(values.batch, 16, '--batch');
    const seed = positiveInt(values.seed, 1, '--seed');
    // Cheap checks first: the card and the dataset, before the weights load.
    checkpointCard(values.model);
    requireDataset(values.data);
    const { model, card } = loadModel(values.model, values.device);
    try {
      const audit = await auditShortcuts({
        datasetDir: values.data,
        model,
        card,
        maxProbeImages,
        batchSize,
        seed,
        ...(values['marker-truth'] === undefined ? {} : { markerTruth: values['marker-truth'] }),
        log: (line) => console.error(line),
      });
      const out = values.out as string;
      await mkdir(out, { recursive: true });
      await writeFile(path.join(out, 'audit.json'), `${JSON.stringify(audit, null, 2)}\n`);
      const markdown = auditMarkdown(audit);
      await writeFile(path.join(out, 'audit.md'), markdown);
      await writeFile(path.join(out, 'audit.html'), `${auditHtml(audit)}\n`);
      const report = path.join(path.dirname(path.resolve(values.model as string)), 'report.html');
      console.error(addSectionToReportFile(report, shortcutAuditSection(audit)) ? `shortcut audit added to the run's report: ${report}` : `no run report beside the model (${report}): the audit is in ${out} only`);
      console.log(markdown.trimEnd());
      return 0;
    } finally {
      model.dispose();
    }
  },
};
