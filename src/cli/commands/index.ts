// Every CLI command, in the order `hipfrac --help` lists them. Each lives in its own file.
import type { CliCommand } from '../command.js';
import { doctorCommand } from './doctor.js';
import { demoCommand } from './demo.js';
import { trainCommand } from './train.js';
import { pretrainCommand } from './pretrain.js';
import { compareCommand } from './compare.js';
import { importCommand } from './import.js';
import { splitCommand } from './split.js';
import { checkLeakageCommand } from './check-leakage.js';
import { qcCommand } from './qc.js';
import { phantomCommand } from './phantom.js';
import { augmentPreviewCommand } from './augment-preview.js';
import { modelsCommand } from './models.js';
import { predictCommand } from './predict.js';
import { exportCommand } from './export.js';
import { explainCommand } from './explain.js';
import { attackCommand } from './attack.js';
import { auditShortcutsCommand } from './audit-shortcuts.js';
import { triageCalibrateCommand } from './triage-calibrate.js';
import { serveCommand } from './serve.js';
import { tokenCommand } from './token.js';
// The review UI's commands (kept together for merging beside serve's).
import { userCommand } from './user.js';
import { feedbackCommand } from './feedback.js';

export const commands: readonly CliCommand[] = [
  demoCommand,
  doctorCommand,
  importCommand,
  splitCommand,
  checkLeakageCommand,
  qcCommand,
  phantomCommand,
  augmentPreviewCommand,
  modelsCommand,
  pretrainCommand,
  trainCommand,
  compareCommand,
  predictCommand,
  exportCommand,
  explainCommand,
  attackCommand,
  auditShortcutsCommand,
  triageCalibrateCommand,
  serveCommand,
  tokenCommand,
  userCommand,
  feedbackCommand,
];
