// Each command's module by name, loaded on demand: `hipfrac qc` then loads qc's imports only, not the whole tool
// (the model zoo, Grad-CAM, the report), so a command starts — and refuses bad input — quickly.
// index.ts lists the same commands for `hipfrac --help`; test/cli/bad-input.test.ts checks that both agree.
import type { CliCommand } from '../command.js';

export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<CliCommand>>> = {
  demo: async () => (await import('./demo.js')).demoCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
  import: async () => (await import('./import.js')).importCommand,
  split: async () => (await import('./split.js')).splitCommand,
  'check-leakage': async () => (await import('./check-leakage.js')).checkLeakageCommand,
  qc: async () => (await import('./qc.js')).qcCommand,
  phantom: async () => (await import('./phantom.js')).phantomCommand,
  'augment-preview': async () => (await import('./augment-preview.js')).augmentPreviewCommand,
  models: async () => (await import('./models.js')).modelsCommand,
  pretrain: async () => (await import('./pretrain.js')).pretrainCommand,
  train: async () => (await import('./train.js')).trainCommand,
  compare: async () => (await import('./compare.js')).compareCommand,
  predict: async () => (await import('./predict.js')).predictCommand,
  export: async () => (await import('./export.js')).exportCommand,
  explain: async () => (await import('./explain.js')).explainCommand,
  attack: async () => (await import('./attack.js')).attackCommand,
  'audit-shortcuts': async () => (await import('./audit-shortcuts.js')).auditShortcutsCommand,
  'triage-calibrate': async () => (await import('./triage-calibrate.js')).triageCalibrateCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  token: async () => (await import('./token.js')).tokenCommand,
  user: async () => (await import('./user.js')).userCommand,
  feedback: async () => (await import('./feedback.js')).feedbackCommand,
};
