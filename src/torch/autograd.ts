// Autograd controls: gradients of outputs with respect to inputs, and no-grad / inference-mode / autocast scopes.
// These modes are thread-local in LibTorch; each worker thread starts with grad mode on and autocast off.
import { native } from './native.js';
import { Tensor } from './tensor.js';

/**
 * Gradients of `outputs` with respect to `inputs` (torch.autograd.grad), without touching `.grad`.
 * Used by Grad-CAM (d score / d activations) and attacks (d loss / d image).
 */
export function grad(
  outputs: Tensor | readonly Tensor[],
  inputs: Tensor | readonly Tensor[],
  options: { gradOutputs?: readonly (Tensor | null)[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | null)[] {
  const outs = outputs instanceof Tensor ? [outputs] : outputs;
  const ins = inputs instanceof Tensor ? [inputs] : inputs;
  const handles = native().autogradGrad(
    outs.map((t) => t._h),
    ins.map((t) => t._h),
    options.gradOutputs === undefined ? null : options.gradOutputs.map((t) => (t === null ? null : t._h)),
    options.retainGraph ?? false,
    options.createGraph ?? false,
    options.allowUnused ?? false,
  );
  return handles.map((h) => (h === null ? null : Tensor.fromHandle(h)));
}

/** Backward from several outputs at once (torch.autograd.backward). */
export function backward(outputs: readonly Tensor[], gradOutputs?: readonly (Tensor | null)[], retainGraph = false): void {
  native().backward(
    outputs.map((t) => t._h),
    gradOutputs === undefined ? null : gradOutputs.map((t) => (t === null ? null : t._h)),
    retainGraph,
    false,
  );
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = native().setGradEnabled(enabled);
  try {
    return fn();
  } finally {
    native().setGradEnabled(previous);
  }
}

/** Runs `fn` with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}
/** Runs `fn` with gradient recording on, e.g. Grad-CAM inside an evaluation loop. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
export function isGradEnabled(): boolean {
  return native().isGradEnabled();
}

/**
 * Runs `fn` in inference mode (torch.inference_mode): no autograd bookkeeping at all, faster than
 * noGrad. Tensors made inside cannot later be used in autograd.
 */
export function inferenceMode<T>(fn: () => T): T {
  const guard = native().enterInferenceMode();
  try {
    return fn();
  } finally {
    native().exitInferenceMode(guard);
  }
}
export function isInferenceMode(): boolean {
  return native().isInferenceMode();
}

/** The precisions a training forward pass runs in: float32, or bfloat16 autocast (float32 weights and gradients). */
export const PRECISIONS = ['fp32', 'bf16'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * Runs `fn` under autocast to bfloat16 on `device`'s type (torch.autocast(device_type, torch.bfloat16)):
 * convolutions, linear layers and matrix products run in bfloat16, the other ops in float32; the weights stay
 * float32 and receive float32 gradients. What `fn` returns may be bfloat16: cast outputs to float32 before a loss,
 * and run backward outside the scope. `precision` 'fp32' runs `fn` as it is.
 */
export function autocast<T>(device: string, precision: Precision, fn: () => T): T {
  if (precision === 'fp32') return fn();
  const guard = native().enterAutocast(device.startsWith('cuda') ? 'cuda' : 'cpu');
  try {
    return fn();
  } finally {
    native().exitAutocast(guard);
  }
}
/** Whether autocast is on for `device`'s type on this thread. */
export function isAutocast(device = 'cpu'): boolean {
  return native().isAutocast(device.startsWith('cuda') ? 'cuda' : 'cpu');
}
