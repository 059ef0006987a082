// The robustness table: clean and attacked accuracy for each defended model (plain, TTA, adversarially
// trained, …) against each attack. Attacks are crafted on each entry's own model (grey-box for TTA).
import type { Module } from '../nn/index.js';
import { tidy } from '../torch/index.js';
import type { Attack } from './attack.js';
import { modelPredictor, predictedClasses, type Predictor } from './predict.js';
import type { LabelledBatch } from './sweep.js';
import { RobustError } from './errors.js';

export interface DefendedModel {
  /** Row label, e.g. 'none', 'TTA (8 views)', 'adversarial training (FGSM-RS, 2/255)'. */
  readonly name: string;
  /** The model whose gradients the attacks use. */
  readonly model: Module;
  /** Who classifies (default the model itself). */
  readonly predictor?: Predictor;
}

export interface AttackSpec {
  /** Column label, e.g. 'FGSM 2/255'. */
  readonly name: string;
  readonly make: (model: Module) => Attack;
}

export interface RobustnessRow {
  readonly defence: string;
  readonly n: number;
  readonly clean: number;
  /** Accuracy per attack name. */
  readonly attacked: Readonly<Record<string, number>>;
}

export interface RobustnessTable {
  readonly attacks: readonly string[];
  readonly rows: readonly RobustnessRow[];
}

/**
 * Clean and attacked accuracy for every (defence, attack) pair on the same batches (read several times,
 * so pass an array). Adversarial images are made once per model and attack and shared by every entry on that model.
 */
export function robustnessTable(entries: readonly DefendedModel[], batches: readonly LabelledBatch[], attacks: readonly AttackSpec[]): RobustnessTable {
  const names = attacks.map((a) => a.name);
  if (new Set(names).size !== names.length) throw new RobustError('HF_ROBUST_BAD_OPTION', `attack names must be unique: ${names.join(', ')}.`);
  const counts = entries.map(() => ({ n: 0, clean: 0, attacked: new Map<string, number>(names.map((n) => [n, 0])) }));
  const models = [...new Set(entries.map((e) => e.model))];
  for (const model of models) {
    const group = entries.map((e, i) => ({ e, i })).filter(({ e }) => e.model === model);
    const built = attacks.map((a) => ({ name: a.name, attack: a.make(model) }));
    for (const batch of batches) {
      const labels = batch.labels.toArray();
      const score = (predicted: number[]): number => predicted.filter((p, i) => p === labels[i]).length;
      for (const { e, i } of group) {
        const c = counts[i] as (typeof counts)[number];
        c.n += labels.length;
        c.clean += score(predictedClasses(e.predictor ?? modelPredictor(e.model), batch.images));
      }
      for (const { name, attack } of built) {
        tidy(() => {
          const adversarial = attack.run(batch.images, batch.labels);
          for (const { e, i } of group) {
            const c = counts[i] as (typeof counts)[number];
            c.attacked.set(name, (c.attacked.get(name) as number) + score(predictedClasses(e.predictor ?? modelPredictor(e.model), adversarial)));
          }
        });
      }
    }
  }
  return {
    attacks: names,
    rows: entries.map((e, i) => {
      const c = counts[i] as (typeof counts)[number];
      return { defence: e.name, n: c.n, clean: c.clean / c.n, attacked: Object.fromEntries(names.map((n) => [n, (c.attacked.get(n) as number) / c.n])) };
    }),
  };
}
