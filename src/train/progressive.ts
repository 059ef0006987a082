// Progressive resizing (as in fastai's course; the "progressive learning" of Tan & Le, EfficientNetV2, 2021, without
// its regularisation ramp): the first all-layer epochs train on smaller images, which cost less per epoch, and the
// last ones at the input size the model predicts at. Validation runs at the input size, and only after the epochs
// trained at it: the epoch kept is chosen among models trained at the size prediction sees, and each reduced-size
// epoch saves a full-size validation pass (on FracAtlas at 320 px, about a third of a 160 px epoch's time).
import { CancelValidate, type Callback } from './events.js';
import type { Batch, BatchSource, Learner } from './learner.js';
import { TrainError } from './errors.js';

/** `epochs` all-layer epochs at `size` px; steps run in order, then the rest of the epochs at the input size. */
export interface SizeStep {
  readonly size: number;
  readonly epochs: number;
}

/** The input size of all-layer epoch `epoch` (0-based): the step it falls in, else `inputSize`. */
export function sizeAtEpoch(steps: readonly SizeStep[], inputSize: number, epoch: number): number {
  let end = 0;
  for (const step of steps) {
    end += step.epochs;
    if (epoch < end) return step.size;
  }
  return inputSize;
}

/** Parses `--progressive 192:4,256:4` (size:epochs, in order). Throws on anything else, naming the part. */
export function parseSizeSteps(text: string): SizeStep[] {
  if (text.trim() === '') return [];
  return text.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (m === null) {
      throw new TrainError('HF_TRAIN_BAD_CONFIG', `invalid progressive step '${part}'.`, { input: text, fix: 'write SIZE:EPOCHS pairs separated by commas, e.g. --progressive 192:4,256:4 (4 epochs at 192 px, 4 at 256, the rest at --input-size).' });
    }
    return { size: Number(m[1]), epochs: Number(m[2]) };
  });
}

/** One line for the training log: which epochs train at which size. */
export function describeSizeSteps(steps: readonly SizeStep[], inputSize: number, epochs: number): string {
  const parts: string[] = [];
  let first = 1;
  for (const step of steps) {
    parts.push(`epochs ${first}-${first + step.epochs - 1} at ${step.size} px`);
    first += step.epochs;
  }
  const last = first === epochs ? `epoch ${first}` : `epochs ${first}-${epochs}`;
  parts.push(`${last} at ${inputSize} px`);
  return `progressive resizing: ${parts.join(', ')} (validated at ${inputSize} px: ${last})`;
}

/** A closable batch source (ImageLoader). */
export interface ClosableSource extends BatchSource {
  close(): Promise<void>;
}

/**
 * The training batches of a progressive run: one source per size, the one of the learner's epoch chosen by the
 * callback `resize` (add it to the learner's callbacks), which also cancels the validation of reduced-size epochs.
 * Epochs of the head-only stage train at the input size and are validated. A source whose epochs are over is closed
 * (its workers and decoded images released).
 */
export class ProgressiveSource implements BatchSource {
  private current: number;
  private readonly closed = new Set<number>();

  /** `sources` by size: one for `inputSize` and one for each step's size, all with the same batches per epoch. */
  constructor(
    private readonly sources: ReadonlyMap<number, ClosableSource>,
    private readonly steps: readonly SizeStep[],
    private readonly inputSize: number,
  ) {
    const final = sources.get(inputSize);
    if (final === undefined) throw new TrainError('HF_TRAIN_BAD_CONFIG', `progressive resizing has no source at the input size ${inputSize} px.`);
    for (const step of steps) {
      const source = sources.get(step.size);
      if (source === undefined) throw new TrainError('HF_TRAIN_BAD_CONFIG', `progressive resizing has no source at ${step.size} px.`);
      if (source.batchesPerEpoch !== final.batchesPerEpoch) throw new TrainError('HF_TRAIN_BAD_CONFIG', `the ${step.size} px source yields ${source.batchesPerEpoch} batches per epoch, the ${inputSize} px one ${final.batchesPerEpoch}: the schedule needs the same count.`);
    }
    this.current = inputSize;
  }

  get batchesPerEpoch(): number {
    return (this.sources.get(this.inputSize) as ClosableSource).batchesPerEpoch;
  }

  epoch(index: number): AsyncIterable<Batch> {
    return (this.sources.get(this.current) as ClosableSource).epoch(index);
  }

  /** Chooses the source of `learner`'s epoch before it starts, and closes the sources no later epoch uses. */
  readonly resize: Callback = {
    name: 'ProgressiveResize',
    order: -20,
    beforeEpoch: async (learner: Learner): Promise<void> => {
      // The head-only stage trains at the input size; the all-layer epochs that follow still need every source.
      if (learner.stage === 'frozen') {
        this.current = this.inputSize;
        return;
      }
      this.current = sizeAtEpoch(this.steps, this.inputSize, learner.epoch);
      // A size is done when no step at it ends after this epoch (the input size never is).
      let end = 0;
      const later = new Set<number>([this.inputSize]);
      for (const step of this.steps) {
        end += step.epochs;
        if (end > learner.epoch) later.add(step.size);
      }
      await this.closeSources((size) => !later.has(size));
    },
    beforeValidate: (learner: Learner): void => {
      if (learner.stage !== 'frozen' && this.current !== this.inputSize) throw new CancelValidate();
    },
  };

  async close(): Promise<void> {
    await this.closeSources(() => true);
  }

  private async closeSources(done: (size: number) => boolean): Promise<void> {
    for (const [size, source] of this.sources) {
      if (this.closed.has(size) || !done(size)) continue;
      this.closed.add(size);
      await source.close();
    }
  }
}
