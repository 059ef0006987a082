// Messages between the node and its inference workers (structured-clone data only).
import type { PixelFractureBox } from '../../explain/index.js';
import type { TriagePolicy } from '../../triage/index.js';
import type { ServeEngine } from './predictor.js';

export interface WorkerInit {
  readonly modelDir: string;
  readonly policy: TriagePolicy;
  /** Intra-op threads for this worker (LibTorch and ONNX Runtime). */
  readonly threads: number;
  /** Which engine predicts (heatmaps are always LibTorch's). */
  readonly engine: ServeEngine;
  /** Absolute data folder; heatmaps go to <dataDir>/heatmaps/. */
  readonly dataDir: string;
  /** Which cases get a Grad-CAM heatmap: those sent to review, or all. */
  readonly heatmaps: 'review' | 'all';
}

export interface BatchItem {
  readonly jobId: number;
  readonly sopInstanceUid: string;
  /** Relative to the data folder. */
  readonly file: string;
}

export interface BatchRequest {
  readonly type: 'batch';
  readonly batchId: number;
  readonly items: readonly BatchItem[];
}

export type ItemResult =
  | {
      readonly ok: true;
      readonly jobId: number;
      readonly sopInstanceUid: string;
      readonly fractureProbability: number;
      readonly predicted: string;
      readonly confidence: number;
      readonly decision: 'auto-report' | 'radiologist-review';
      readonly level: string;
      readonly reason: string;
      /** Relative to the data folder; '' when none. */
      readonly heatmap: string;
      /**
       * The box head's fracture boxes in the source image's pixels, best first; absent when the model has no box
       * head or the image needed none (auto-reported as intact, with heatmaps: review).
       */
      readonly boxes?: readonly PixelFractureBox[];
      /** Where the image the model saw (and the heatmap overlay) starts in the source's pixels: a localiser's crop, else [0, 0]. */
      readonly regionOrigin: readonly [number, number];
    }
  | { readonly ok: false; readonly jobId: number; readonly sopInstanceUid: string; readonly reason: string };

export type WorkerMessage =
  | { readonly type: 'ready'; readonly inputSize: number; /** The engine chosen and why. */ readonly engine: string }
  | { readonly type: 'results'; readonly batchId: number; readonly results: readonly ItemResult[] }
  | { readonly type: 'fatal'; readonly message: string };
