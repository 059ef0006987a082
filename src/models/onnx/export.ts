// The ONNX export of a zoo model: opset 17, dynamic batch, for a Classifier the grey → RGB step and ImageNet
// normalisation inside the graph (input `images` [N, 1, H, W] in [0, 1], output `logits`), the model card in
// metadata_props. BatchNorm after a convolution is folded first, as the LibTorch fast path does.
import { writeFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { inferenceMode, tidy, zeros } from '../../torch/index.js';
import { BatchNorm2d, type Module } from '../../nn/index.js';
import { FoldedNorm } from '../body.js';
import { HipfracError } from '../../util/index.js';
import { hipfracVersion, type ModelCard } from '../checkpoint.js';
import { Classifier } from '../classifier.js';
import { optimizeForInference } from '../optimize.js';
import { emitModule, type EmitContext, type ShapeTable } from './emit.js';
import { GraphBuilder } from './graph.js';
import { DataType, encodeModel, type ModelProto, type ValueInfoProto } from './proto.js';

export const ONNX_OPSET = 17;
/** IR version 8 goes with opset 17 (ONNX 1.12). */
export const ONNX_IR_VERSION = 8;
export const ONNX_INPUT = 'images';
export const ONNX_OUTPUT = 'logits';
/** The optional second output of a classifier's graph: the body's feature map averaged over space, [N, C]. */
export const ONNX_FEATURES = 'features';
/** metadata_props key holding the model card as JSON. */
export const CARD_KEY = 'hipfrac.card';

export type OnnxPrecision = 'fp32' | 'int8';

/** What the model card records about an exported graph (card.extra.onnx). */
export interface OnnxExportFacts {
  precision: OnnxPrecision;
  opset: number;
  inputSize: number;
  foldedBatchNorm: boolean;
  /** For reduced precision: the calibration and the accuracy change measured at export. */
  quantization?: Record<string, unknown>;
}

export interface OnnxExportOptions {
  /** Side of the square input (default: the card's inputSize, else the architecture's). */
  readonly inputSize?: number;
  /** Fold BatchNorm into the preceding convolution before export (default true). */
  readonly foldBatchNorm?: boolean;
  /** The model card written into metadata_props (a Classifier's). */
  readonly card?: ModelCard;
  /**
   * A Classifier only: also output `features` [N, C], its body's feature map averaged over space (what the input
   * gate scores, src/gate), so that a gated checkpoint predicts on ONNX Runtime too (default false).
   */
  readonly features?: boolean;
}

/** An ONNX graph still open for rewriting (the quantiser inserts nodes before it is encoded). */
export interface OnnxGraph {
  readonly graph: GraphBuilder;
  readonly model: ModelProto;
  readonly facts: OnnxExportFacts;
  readonly inputShape: readonly [number, number, number];
}

/** Records every module's input and output shape on one forward of a zero image. */
function probeShapes(model: Module, inputShape: readonly number[]): ShapeTable {
  const table = new Map<Module, { input: readonly number[]; output: readonly number[] }>();
  const handles = [...model.namedModules()].map(([, m]) =>
    m.registerForwardHook((mod, input, output) => {
      if (!table.has(mod)) table.set(mod, { input: [...input.shape], output: [...output.shape] });
    }),
  );
  try {
    inferenceMode(() => tidy(() => void model.call(zeros([1, ...inputShape]))));
  } finally {
    for (const h of handles) h.remove();
  }
  return table;
}

/** Whether the folded copy has the model's modules, path by path, with BatchNorm2d → FoldedNorm only. */
function sameTree(model: Module, folded: Module): boolean {
  const a = [...model.namedModules()];
  const b = new Map(folded.namedModules());
  if (a.length !== b.size) return false;
  return a.every(([p, m]) => {
    const twin = b.get(p);
    return twin !== undefined && (twin.constructor === m.constructor || (m instanceof BatchNorm2d && twin instanceof FoldedNorm));
  });
}

function valueInfo(name: string, dims: readonly (number | string)[], elemType: number = DataType.FLOAT): ValueInfoProto {
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } } };
}

/**
 * The ONNX graph of `model` (a Classifier, or an ImageNet network from buildImagenetModel taking normalised
 * RGB). The model must be in eval mode: its BatchNorm statistics and dropout are exported as eval runs them.
 */
export function buildOnnxGraph(model: Module, options: OnnxExportOptions = {}): OnnxGraph {
  if ([...model.namedModules()].some(([, m]) => m.training)) {
    throw new HipfracError('HF_MODELS_ONNX_UNSUPPORTED', 'the model is in training mode; ONNX export writes eval-mode behaviour.', { fix: 'call model.eval() before exporting.' });
  }
  const isClassifier = model instanceof Classifier;
  const size = options.inputSize ?? options.card?.inputSize ?? (isClassifier ? model.spec.inputSize : 224);
  const inputShape = [isClassifier ? 1 : 3, size, size] as const;
  let source = model;
  if (options.foldBatchNorm ?? true) {
    source = optimizeForInference(model);
    // The folded copy is rebuilt from the architecture: a tree changed after building would lose its changes there.
    if (!sameTree(model, source)) {
      source.dispose();
      source = model;
    }
  }
  const fold = source !== model;
  try {
    const shapes = probeShapes(source, inputShape);
    const graph = new GraphBuilder();
    graph.fresh(ONNX_INPUT);
    // Each module's output value, to find the body's (for the features output).
    const outputs = new Map<Module, string>();
    const ctx: EmitContext = {
      graph,
      shapes,
      emit: (m, p, x) => {
        const y = emitModule(ctx, m, p, x);
        outputs.set(m, y);
        return y;
      },
    };
    const last = ctx.emit(source, '', ONNX_INPUT);
    const producer = graph.nodes.find((n) => n.output[0] === last);
    if (producer === undefined) throw new HipfracError('HF_MODELS_ONNX_UNSUPPORTED', 'the model computes nothing (its output is its input).');
    producer.output[0] = ONNX_OUTPUT;
    const classes = shapes.get(source)?.output[1] ?? 0;
    const outputInfo = [valueInfo(ONNX_OUTPUT, ['batch', classes])];
    if (options.features === true) {
      if (!(source instanceof Classifier)) throw new HipfracError('HF_MODELS_ONNX_UNSUPPORTED', 'a features output needs a Classifier (its body\'s feature map); this model is not one.', { fix: 'export without features.' });
      const map = outputs.get(source.body);
      const channels = shapes.get(source.body)?.output[1];
      if (map === undefined || channels === undefined) throw new HipfracError('HF_MODELS_ONNX_UNSUPPORTED', 'the classifier\'s body has no output in the graph.');
      const flat = graph.node('Flatten', [graph.node('GlobalAveragePool', [map], {}, 'features.pool')], { axis: 1 }, 'features.flatten');
      const flatten = graph.nodes.find((n) => n.output[0] === flat) as (typeof graph.nodes)[number];
      flatten.output[0] = ONNX_FEATURES;
      outputInfo.push(valueInfo(ONNX_FEATURES, ['batch', channels]));
    }
    const facts: OnnxExportFacts = { precision: 'fp32', opset: ONNX_OPSET, inputSize: size, foldedBatchNorm: fold };
    const onnx: ModelProto = {
      ir_version: ONNX_IR_VERSION,
      producer_name: 'hipfrac',
      producer_version: hipfracVersion(),
      doc_string: isClassifier ? `${model.spec.name} fracture classifier (${model.headKind} head): images [N, 1, H, W] in [0, 1] → logits [N, ${classes}]` : 'ImageNet network: normalised RGB → logits',
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      metadata_props: [],
      graph: {
        name: isClassifier ? model.spec.name : model.constructor.name,
        node: graph.nodes,
        initializer: graph.initializers,
        input: [valueInfo(ONNX_INPUT, ['batch', ...inputShape])],
        output: outputInfo,
      },
    };
    return { graph, model: onnx, facts, inputShape };
  } finally {
    if (source !== model) source.dispose();
  }
}

/** Puts the card (with the export facts in extra.onnx) into metadata_props and returns the encoded file. */
export function finishOnnx(onnx: OnnxGraph, card: ModelCard | undefined): Uint8Array {
  const props: { key: string; value: string }[] = [
    { key: 'hipfrac.precision', value: onnx.facts.precision },
    { key: 'hipfrac.input', value: `${ONNX_INPUT} [N, ${onnx.inputShape.join(', ')}] float32 in [0, 1]` },
  ];
  if (card !== undefined) {
    const full: ModelCard = { ...card, inputSize: onnx.facts.inputSize, extra: { ...card.extra, onnx: onnx.facts } };
    props.push({ key: CARD_KEY, value: JSON.stringify(full) }, { key: 'hipfrac.architecture', value: card.architecture }, { key: 'hipfrac.classes', value: card.classes.join(',') });
  }
  return encodeModel({ ...onnx.model, metadata_props: props });
}

/** Encodes the fp32 export of `model` (see buildOnnxGraph). */
export function exportOnnx(model: Module, options: OnnxExportOptions = {}): Uint8Array {
  return finishOnnx(buildOnnxGraph(model, options), options.card);
}

/** Writes bytes to `file` through a temporary name, so a reader never sees half a model. */
export function writeOnnxFile(file: string, bytes: Uint8Array): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, bytes);
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
