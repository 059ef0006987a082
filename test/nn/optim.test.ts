// Optimiser proof: 10 steps of Adam, AdamW and SGD (momentum, dampening, Nesterov, weight decay), two
// parameter groups and a changing schedule, against PyTorch 1.13 run on the same weights; state round trips.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Adam, AdamW, loadOptimizerState, loadSafetensors, saveOptimizerState, saveSafetensors, SGD, tensorToBytes, type Optimizer, type ParamGroup } from '../../src/nn/index.js';
import { add, linear, manualSeed, memoryStats, mseLoss, randn, tanh, tidy, type Tensor } from '../../src/torch/index.js';
import { HipfracError } from '../../src/util/index.js';
import { needs, PYTHON } from '../helpers/references.js';

const dir = mkdtempSync(join(tmpdir(), 'hipfrac-optim-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

type Kind = 'Adam' | 'AdamW' | 'SGD';
type Options = Record<string, number | boolean | number[]>;
interface Config {
  readonly name: string;
  readonly kind: Kind;
  readonly options: Options;
  readonly group0: Options;
  readonly group1: Options;
  /** Per step: each group's lr scaled down and β1 / momentum moved, as a one-cycle scheduler would. */
  readonly schedule: boolean;
}

const CONFIGS: Config[] = [
  { name: 'adam', kind: 'Adam', options: {}, group0: { lr: 1e-2 }, group1: { lr: 3e-3 }, schedule: false },
  { name: 'adam_l2_amsgrad', kind: 'Adam', options: { weightDecay: 1e-2, amsgrad: true, betas: [0.85, 0.99], eps: 1e-6 }, group0: { lr: 2e-2 }, group1: { lr: 5e-3 }, schedule: false },
  { name: 'adam_scheduled', kind: 'Adam', options: { betas: [0.95, 0.999] }, group0: { lr: 1e-2 }, group1: { lr: 4e-3 }, schedule: true },
  { name: 'adamw', kind: 'AdamW', options: { weightDecay: 0.1 }, group0: { lr: 1e-2 }, group1: { lr: 3e-3, weightDecay: 0.3 }, schedule: false },
  // The multi-tensor path (the default for CUDA parameters), forced on the CPU against PyTorch's foreach=True.
  { name: 'adam_foreach_l2_amsgrad', kind: 'Adam', options: { foreach: true, weightDecay: 1e-2, amsgrad: true, betas: [0.85, 0.99], eps: 1e-6 }, group0: { lr: 2e-2 }, group1: { lr: 5e-3 }, schedule: true },
  { name: 'adamw_foreach', kind: 'AdamW', options: { foreach: true, weightDecay: 0.1 }, group0: { lr: 1e-2 }, group1: { lr: 3e-3, weightDecay: 0.3 }, schedule: false },
  { name: 'sgd', kind: 'SGD', options: { lr: 0.1 }, group0: {}, group1: { lr: 0.03 }, schedule: false },
  { name: 'sgd_momentum', kind: 'SGD', options: { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 1e-3 }, group0: {}, group1: { lr: 0.02 }, schedule: false },
  { name: 'sgd_nesterov', kind: 'SGD', options: { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 }, group0: { lr: 0.08 }, group1: {}, schedule: true },
];
const PARAM_NAMES = ['w1', 'b1', 'w2', 'b2', 'frozen'] as const;
const STEPS = 10;

// PyTorch side: reads the initial weights (hipfrac's safetensors writer) with its own parser, runs every
// configuration with the single-tensor (foreach=False) code path unless the configuration asks for foreach,
// writes the results in safetensors.
const REFERENCE = String.raw`
import sys, json, struct, torch
import torch.nn.functional as F
DT = {'F32': torch.float32}
def read_st(path):
  b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); out = {}
  for k, v in h.items():
    if k == '__metadata__': continue
    s, e = v['data_offsets']
    out[k] = torch.frombuffer(bytearray(b[8 + n + s:8 + n + e]), dtype=DT[v['dtype']]).reshape(v['shape']).clone()
  return out
def write_st(path, tensors):
  header, blobs, at = {}, [], 0
  for k, t in tensors.items():
    raw = t.contiguous().numpy().tobytes(); header[k] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [at, at + len(raw)]}; blobs.append(raw); at += len(raw)
  js = json.dumps(header).encode(); js += b' ' * ((8 - len(js) % 8) % 8)
  open(path, 'wb').write(struct.pack('<Q', len(js)) + js + b''.join(blobs))
KEYS = {'lr': 'lr', 'betas': 'betas', 'eps': 'eps', 'weightDecay': 'weight_decay', 'amsgrad': 'amsgrad', 'momentum': 'momentum', 'dampening': 'dampening', 'nesterov': 'nesterov', 'foreach': 'foreach'}
def py(o): return {KEYS[k]: (tuple(v) if isinstance(v, list) else v) for k, v in o.items()}
init = read_st(sys.argv[1]); configs = json.loads(sys.argv[2]); steps = int(sys.argv[3]); results = {}
for c in configs:
  p = {k: init[k].clone().requires_grad_(k != 'frozen') for k in ['w1', 'b1', 'w2', 'b2', 'frozen']}
  groups = [dict(params=[p['w1'], p['b1']], **py(c['group0'])), dict(params=[p['w2'], p['b2'], p['frozen']], **py(c['group1']))]
  opt = getattr(torch.optim, c['kind'])(groups, **{'foreach': False, **py(c['options'])})
  base = [g['lr'] for g in opt.param_groups]
  for step in range(steps):
    if c['schedule']:
      for i, g in enumerate(opt.param_groups):
        g['lr'] = base[i] * (1 - step / 20)
        if 'betas' in g: g['betas'] = (0.95 - 0.01 * step, g['betas'][1])
        else: g['momentum'] = 0.95 - 0.01 * step
    opt.zero_grad(set_to_none=True)
    out = F.linear(torch.tanh(F.linear(init['x'], p['w1'], p['b1'])), p['w2'], p['b2']) + p['frozen']
    F.mse_loss(out, init['y']).backward()
    opt.step()
  for k, v in p.items(): results[c['name'] + '.' + k] = v.detach()
write_st(sys.argv[4], results)
`;

interface Model {
  readonly params: Record<(typeof PARAM_NAMES)[number], Tensor>;
  readonly x: Tensor;
  readonly y: Tensor;
}

function initialTensors(): Map<string, Tensor> {
  manualSeed(5);
  return new Map<string, Tensor>([
    ['w1', randn([6, 4])],
    ['b1', randn([6])],
    ['w2', randn([3, 6])],
    ['b2', randn([3])],
    ['frozen', randn([3])],
    ['x', randn([8, 4])],
    ['y', randn([8, 3])],
  ]);
}
const INIT = initialTensors();

function makeModel(from: ReadonlyMap<string, Tensor> = INIT): Model {
  const get = (k: string): Tensor => (from.get(k) as Tensor).clone();
  const params = { w1: get('w1'), b1: get('b1'), w2: get('w2'), b2: get('b2'), frozen: get('frozen') };
  for (const name of PARAM_NAMES) if (name !== 'frozen') params[name].requiresGrad_(true);
  return { params, x: get('x'), y: get('y') };
}

function makeOptimizer(config: Config, model: Model): Optimizer<ParamGroup> {
  const p = model.params;
  const groups = [
    { params: [p.w1, p.b1], ...config.group0 },
    { params: [p.w2, p.b2, p.frozen], ...config.group1 },
  ];
  // The configs carry each optimiser's own option names; the casts only bridge the shared table above.
  if (config.kind === 'SGD') return new SGD(groups as never, config.options as never) as unknown as Optimizer<ParamGroup>;
  if (config.kind === 'Adam') return new Adam(groups as never, config.options as never) as unknown as Optimizer<ParamGroup>;
  return new AdamW(groups as never, config.options as never) as unknown as Optimizer<ParamGroup>;
}

function trainSteps(config: Config, model: Model, optimizer: Optimizer<ParamGroup>, from: number, to: number, baseLrs: readonly number[]): void {
  for (let step = from; step < to; step++) {
    if (config.schedule) {
      optimizer.paramGroups.forEach((g, i) => {
        g.lr = (baseLrs[i] as number) * (1 - step / 20);
        const group = g as ParamGroup & { betas?: [number, number]; momentum?: number };
        if (group.betas !== undefined) group.betas = [0.95 - 0.01 * step, group.betas[1]];
        else group.momentum = 0.95 - 0.01 * step;
      });
    }
    optimizer.zeroGrad();
    tidy(() => {
      const p = model.params;
      const out = add(linear(tanh(linear(model.x, p.w1, p.b1)), p.w2, p.b2), p.frozen);
      mseLoss(out, model.y).backward();
    });
    optimizer.step();
  }
}

function sameBits(a: Tensor, b: Tensor): boolean {
  return Buffer.from(tensorToBytes(a)).equals(Buffer.from(tensorToBytes(b)));
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] as number) - (y[i] as number)));
  return worst;
}

describe('optimisers match PyTorch 1.13 after 10 steps', needs('torch'), () => {
  const initFile = join(dir, 'init.safetensors');
  const refFile = join(dir, 'reference.safetensors');
  saveSafetensors(initFile, INIT);
  execFileSync(PYTHON, ['-c', REFERENCE, initFile, JSON.stringify(CONFIGS), String(STEPS), refFile], { stdio: ['ignore', 'ignore', 'inherit'] });
  const reference = loadSafetensors(refFile);

  for (const config of CONFIGS) {
    it(`${config.name}: parameters equal PyTorch's within float32 tolerance; the frozen one is untouched`, () => {
      const model = makeModel();
      const optimizer = makeOptimizer(config, model);
      trainSteps(config, model, optimizer, 0, STEPS, optimizer.paramGroups.map((g) => g.lr));
      for (const name of PARAM_NAMES) {
        const ours = model.params[name];
        const theirs = reference.get(`${config.name}.${name}`) as Tensor;
        const diff = maxAbsDiff(ours, theirs);
        assert.ok(diff <= 2e-6, `${config.name}.${name}: max |hipfrac − PyTorch| = ${diff}`);
        if (name === 'frozen') assert.ok(sameBits(ours, INIT.get('frozen') as Tensor), 'frozen parameter changed');
        else assert.ok(maxAbsDiff(ours, INIT.get(name) as Tensor) > 1e-3, `${config.name}.${name} did not move`);
      }
      optimizer.dispose();
      for (const t of Object.values(model.params)) t.dispose();
    });
  }
});

describe('optimizer state', () => {
  const roundTrip = CONFIGS.filter((c) => ['adam_l2_amsgrad', 'adam_scheduled', 'adamw', 'sgd_nesterov'].includes(c.name));
  for (const config of roundTrip) {
    it(`${config.name}: save at step 5 → file → fresh optimizer → 5 more steps = 10 uninterrupted, bit for bit`, () => {
      const straight = makeModel();
      const straightOpt = makeOptimizer(config, straight);
      const baseLrs = straightOpt.paramGroups.map((g) => g.lr);
      trainSteps(config, straight, straightOpt, 0, STEPS, baseLrs);

      const first = makeModel();
      const firstOpt = makeOptimizer(config, first);
      trainSteps(config, first, firstOpt, 0, 5, baseLrs);
      const weightsFile = join(dir, `${config.name}-weights.safetensors`);
      const stateFile = join(dir, `${config.name}-optimizer.safetensors`);
      saveSafetensors(weightsFile, new Map([...Object.entries(first.params), ['x', first.x], ['y', first.y]]));
      saveOptimizerState(stateFile, firstOpt);
      firstOpt.dispose();

      // "After the crash": everything rebuilt from the two files.
      const saved = loadSafetensors(weightsFile);
      const resumed = makeModel(saved);
      const resumedOpt = makeOptimizer(config, resumed);
      loadOptimizerState(stateFile, resumedOpt);
      trainSteps(config, resumed, resumedOpt, 5, STEPS, baseLrs);
      for (const name of PARAM_NAMES) assert.ok(sameBits(resumed.params[name], straight.params[name]), `${config.name}.${name} differs after resuming`);
      for (const o of [straightOpt, resumedOpt]) o.dispose();
      for (const m of [straight, first, resumed]) for (const t of Object.values(m.params)) t.dispose();
      for (const t of saved.values()) t.dispose();
    });
  }

  it('stateDict() is a caller-owned copy with JSON meta; hyperparameters set by a scheduler come back', () => {
    const config = CONFIGS[0] as Config;
    const model = makeModel();
    const optimizer = makeOptimizer(config, model);
    trainSteps(config, model, optimizer, 0, 2, [1e-2, 3e-3]);
    optimizer.paramGroups[1]!.lr = 7e-4;
    const state = optimizer.stateDict();
    assert.deepEqual([...state.tensors.keys()].sort(), ['0.exp_avg', '0.exp_avg_sq', '0.step', '1.exp_avg', '1.exp_avg_sq', '1.step', '2.exp_avg', '2.exp_avg_sq', '2.step', '3.exp_avg', '3.exp_avg_sq', '3.step']);
    assert.equal(state.tensors.get('0.step')?.item(), 2);
    const meta = JSON.parse(JSON.stringify(state.meta)) as typeof state.meta;
    assert.deepEqual(meta.paramGroups[1]?.params, [2, 3, 4]);
    assert.equal(meta.paramGroups[1]?.lr, 7e-4);
    // Disposing the copy must not hurt the optimiser.
    const copies = new Map([...state.tensors].map(([k, t]) => [k, t.clone()]));
    for (const t of state.tensors.values()) t.dispose();
    optimizer.step();
    const other = makeOptimizer(config, makeModel());
    other.loadStateDict({ tensors: copies, meta });
    assert.equal(other.paramGroups[1]?.lr, 7e-4);
    other.dispose();
    optimizer.dispose();
  });

  it('a state that does not fit is refused and leaves the optimiser as it was', () => {
    const adam = CONFIGS[0] as Config;
    const model = makeModel();
    const optimizer = makeOptimizer(adam, model);
    trainSteps(adam, model, optimizer, 0, 3, [1e-2, 3e-3]);
    const sgdState = makeOptimizer(CONFIGS.find((c) => c.name === 'sgd_momentum') as Config, makeModel()).stateDict();
    const refuse = (state: { tensors: Map<string, Tensor>; meta: unknown }, pattern: RegExp): void => {
      assert.throws(() => optimizer.loadStateDict(state), (e: unknown) => e instanceof HipfracError && e.code === 'HF_OPTIM_BAD_STATE' && pattern.test(e.message));
    };
    refuse(sgdState, /saved by SGD/);
    const good = optimizer.stateDict();
    refuse({ tensors: good.tensors, meta: { ...good.meta, paramGroups: good.meta.paramGroups.slice(0, 1) } }, /1 parameter groups/);
    const wrongShape = new Map(good.tensors);
    wrongShape.set('0.exp_avg', randn([2, 2]));
    refuse({ tensors: wrongShape, meta: good.meta }, /'0\.exp_avg' has shape \[2, 2\]/);
    const unknown = new Map(good.tensors);
    unknown.set('9.exp_avg', randn([3]));
    refuse({ tensors: unknown, meta: good.meta }, /'9\.exp_avg' names no parameter/);
    refuse({ tensors: good.tensors, meta: { ...good.meta, paramGroups: [{ ...good.meta.paramGroups[0], lr: -1 }, good.meta.paramGroups[1]] } }, /lr/);
    // Still the same optimiser: continuing equals an uninterrupted run.
    const straight = makeModel();
    const straightOpt = makeOptimizer(adam, straight);
    trainSteps(adam, straight, straightOpt, 0, 5, [1e-2, 3e-3]);
    trainSteps(adam, model, optimizer, 3, 5, [1e-2, 3e-3]);
    for (const name of PARAM_NAMES) assert.ok(sameBits(model.params[name], straight.params[name]), name);
  });

  it('state tensors are kept and step temporaries freed: live tensor count is flat over steps', () => {
    const config = CONFIGS[1] as Config;
    const model = makeModel();
    const optimizer = makeOptimizer(config, model);
    trainSteps(config, model, optimizer, 0, 2, [2e-2, 5e-3]);
    const before = memoryStats().liveTensors;
    trainSteps(config, model, optimizer, 2, 8, [2e-2, 5e-3]);
    // GC finalizers may free other tests' garbage meanwhile (never add): so at most, not exactly.
    assert.ok(memoryStats().liveTensors <= before, `live tensors grew from ${before} to ${memoryStats().liveTensors} over 6 steps`);
    optimizer.zeroGrad();
    assert.equal(model.params.w1.grad, null);
    const live = memoryStats().liveTensors;
    optimizer.dispose();
    assert.ok(memoryStats().liveTensors <= live - 4 * 4, 'dispose frees step, exp_avg, exp_avg_sq, max_exp_avg_sq of 4 params');
  });
});

describe('optimiser hyperparameters are checked', () => {
  const model = makeModel();
  const p = model.params;
  const bad = (fn: () => unknown, code: string, pattern: RegExp): void => {
    assert.throws(fn, (e: unknown) => e instanceof HipfracError && e.code === code && pattern.test(e.message));
  };
  it('at construction', () => {
    bad(() => new Adam([p.w1], { lr: -1 }), 'HF_OPTIM_BAD_HYPERPARAMETER', /lr = -1/);
    bad(() => new Adam([p.w1], { betas: [1, 0.999] }), 'HF_OPTIM_BAD_HYPERPARAMETER', /betas\[0\]/);
    bad(() => new SGD([p.w1], { lr: 0.1, nesterov: true }), 'HF_OPTIM_BAD_HYPERPARAMETER', /Nesterov/);
    bad(() => new SGD([p.w1, p.w1], { lr: 0.1 }), 'HF_OPTIM_DUPLICATE_PARAM', /more than one group/);
    bad(() => new AdamW([]), 'HF_OPTIM_NO_PARAMS', /empty parameter list/);
    bad(() => new SGD([tidy(() => p.w1.mul(2))], { lr: 0.1 }), 'HF_OPTIM_NON_LEAF', /non-leaf/);
  });
  it('before each step, since a scheduler may have changed them', () => {
    const optimizer = new Adam([[p.w1], [p.w2]], { lr: 1e-3 });
    assert.equal(optimizer.paramGroups.length, 2);
    optimizer.paramGroups[1]!.betas = [1.5, 0.999];
    bad(() => optimizer.step(), 'HF_OPTIM_BAD_HYPERPARAMETER', /group 1 has betas\[0\] = 1\.5/);
    optimizer.dispose();
  });
});
