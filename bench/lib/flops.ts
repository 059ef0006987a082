// FLOPs of one forward pass, counted from the convolutions and linear layers a model actually runs (2 per
// multiply-add), so GFLOP/s can be set against the CPU's peak.
import { inferenceMode, rand, tidy } from '../../src/torch/index.js';
import { Conv2d, Linear, type Module } from '../../src/nn/index.js';

/** FLOPs of one forward on an input of `shape` (batch 1). */
export function forwardFlops(model: Module, shape: readonly number[]): number {
  let flops = 0;
  const handles = [...model.namedModules()].flatMap(([, m]) => {
    if (m instanceof Conv2d) return [m.registerForwardHook((_m, _in, out) => (flops += 2 * out.numel * (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1]))];
    if (m instanceof Linear) return [m.registerForwardHook((_m, _in, out) => (flops += 2 * out.numel * m.inFeatures))];
    return [];
  });
  try {
    inferenceMode(() => tidy(() => void model.call(rand([...shape]))));
  } finally {
    for (const h of handles) h.remove();
  }
  return flops;
}
