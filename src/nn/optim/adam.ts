// Adam (Kingma & Ba 2015) with L2 weight decay, and AdamW (Loshchilov & Hutter 2019) with decoupled
// weight decay: PyTorch 1.13's single-tensor formulas, operation for operation, so steps match it on the
// CPU; on CUDA its multi-tensor (_foreach_) formulas, PyTorch's default there.
import { callOp, float, maximum, sqrt, zerosLike, scalarTensor, type Tensor } from '../../torch/index.js';
import { badHyperparameter, Optimizer, type GroupItem, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface AdamGroup extends ParamGroup {
  /** β1 (momentum of the gradient average; one-cycle moves it 0.95 → 0.85) and β2. */
  betas: [number, number];
  eps: number;
  weightDecay: number;
  /** Use the maximum of past squared-gradient averages (Reddi et al. 2018). */
  amsgrad: boolean;
}

export type AdamOptions = Partial<Omit<AdamGroup, 'params'>> & {
  /**
   * Multi-tensor (_foreach_) updates, as torch.optim's `foreach`: undefined (default) uses them when a
   * group's parameters are all on one CUDA device, as PyTorch does; true or false forces the choice.
   */
  foreach?: boolean;
};

abstract class AdamFamily extends Optimizer<AdamGroup> {
  protected readonly stateNames = ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'] as const;
  /** AdamW shrinks the weights directly instead of adding weightDecay·param to the gradient. */
  protected abstract readonly decoupled: boolean;
  private readonly foreach: boolean | undefined;

  constructor(params: ParamsInput<AdamGroup>, defaults: Omit<AdamGroup, 'params'>, foreach: boolean | undefined) {
    super(params, defaults);
    this.foreach = foreach;
  }

  protected override validateGroup(group: AdamGroup, index: number): void {
    super.validateGroup(group, index);
    const [beta1, beta2] = group.betas;
    if (!(beta1 >= 0 && beta1 < 1)) throw badHyperparameter(this.kind, index, 'betas[0]', beta1, '0 ≤ β1 < 1');
    if (!(beta2 >= 0 && beta2 < 1)) throw badHyperparameter(this.kind, index, 'betas[1]', beta2, '0 ≤ β2 < 1');
    if (!(group.eps >= 0)) throw badHyperparameter(this.kind, index, 'eps', group.eps, 'eps ≥ 0');
    if (!(group.weightDecay >= 0)) throw badHyperparameter(this.kind, index, 'weightDecay', group.weightDecay, 'weightDecay ≥ 0');
  }

  private stateOf(state: Map<string, Tensor>, name: string, param: Tensor): Tensor {
    return state.get(name) ?? this.initState(state, name, zerosLike(param));
  }

  /** PyTorch's _multi_tensor_adam (1.13 formulas, no lerp): one kernel per step of the formula for the group. */
  protected override updateGroup(items: readonly GroupItem[], group: AdamGroup): boolean {
    if (this.foreach === false) return false;
    const device = items[0]?.param.device ?? 'cpu';
    // The CPU default (per parameter, as PyTorch) is settled by the first parameter alone.
    if (this.foreach === undefined && device === 'cpu') return false;
    if (items.some((i) => i.param.device !== device)) return false;
    const { lr, eps, weightDecay, amsgrad } = group;
    const [beta1, beta2] = group.betas;
    const params = items.map((i) => i.param);
    const expAvgs = items.map((i) => this.stateOf(i.state, 'exp_avg', i.param));
    const expAvgSqs = items.map((i) => this.stateOf(i.state, 'exp_avg_sq', i.param));
    const steps = items.map((i) => i.state.get('step') ?? this.initState(i.state, 'step', scalarTensor(0, { dtype: 'float32' })));
    callOp('aten::_foreach_add_', 'Scalar', [steps, 1]);
    let grads = items.map((i) => i.grad);
    if (this.decoupled) {
      if (weightDecay !== 0) callOp('aten::_foreach_mul_', 'Scalar', [params, float(1 - lr * weightDecay)]);
    } else if (weightDecay !== 0) {
      grads = callOp('aten::_foreach_add', 'List', [grads, params], { alpha: float(weightDecay) }) as Tensor[];
    }
    callOp('aten::_foreach_mul_', 'Scalar', [expAvgs, float(beta1)]);
    callOp('aten::_foreach_add_', 'List', [expAvgs, grads], { alpha: float(1 - beta1) });
    callOp('aten::_foreach_mul_', 'Scalar', [expAvgSqs, float(beta2)]);
    callOp('aten::_foreach_addcmul_', 'Scalar', [expAvgSqs, grads, grads, float(1 - beta2)]);
    const stepValues = steps.map((t) => t.item());
    const stepSizes = stepValues.map((t) => float(-lr / (1 - beta1 ** t)));
    const correction2Sqrt = stepValues.map((t) => float(Math.sqrt(1 - beta2 ** t)));
    let second = expAvgSqs;
    if (amsgrad) {
      second = items.map((i) => this.stateOf(i.state, 'max_exp_avg_sq', i.param));
      callOp('aten::_foreach_maximum_', 'List', [second, expAvgSqs]);
    }
    const denom = callOp('aten::_foreach_sqrt', '', [second]) as Tensor[];
    callOp('aten::_foreach_div_', 'ScalarList', [denom, correction2Sqrt]);
    callOp('aten::_foreach_add_', 'Scalar', [denom, float(eps)]);
    callOp('aten::_foreach_addcdiv_', 'ScalarList', [params, expAvgs, denom, stepSizes]);
    return true;
  }

  protected updateParam(param: Tensor, grad: Tensor, group: AdamGroup, state: Map<string, Tensor>): void {
    const { lr, eps, weightDecay, amsgrad } = group;
    const [beta1, beta2] = group.betas;
    // On the CPU even for CUDA parameters, as PyTorch keeps it: reading it then costs no device sync.
    const stepCount = state.get('step') ?? this.initState(state, 'step', scalarTensor(0, { dtype: 'float32' }));
    const expAvg = this.stateOf(state, 'exp_avg', param);
    const expAvgSq = this.stateOf(state, 'exp_avg_sq', param);

    stepCount.add_(1);
    let g = grad;
    if (this.decoupled) param.mul_(float(1 - lr * weightDecay));
    else if (weightDecay !== 0) g = grad.add(param, float(weightDecay));

    expAvg.mul_(float(beta1)).add_(g, float(1 - beta1));
    expAvgSq.mul_(float(beta2)).addcmul_(g, g, float(1 - beta2));

    const step = stepCount.item();
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const stepSize = lr / biasCorrection1;
    const biasCorrection2Sqrt = Math.sqrt(biasCorrection2);

    let second = expAvgSq;
    if (amsgrad) {
      const maxSq = this.stateOf(state, 'max_exp_avg_sq', param);
      maxSq.copy_(maximum(maxSq, expAvgSq));
      second = maxSq;
    }
    const denom = sqrt(second).div_(float(biasCorrection2Sqrt)).add_(float(eps));
    param.addcdiv_(expAvg, denom, float(-stepSize));
  }
}

/** Adam with L2 weight decay added to the gradient (torch.optim.Adam). Defaults as PyTorch's. */
export class Adam extends AdamFamily {
  readonly kind = 'Adam';
  protected readonly decoupled = false;
  constructor(params: ParamsInput<AdamGroup>, options: AdamOptions = {}) {
    const { foreach, ...hyper } = options;
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, ...hyper }, foreach);
  }
}

/** Adam with decoupled weight decay (torch.optim.AdamW). Defaults as PyTorch's (weightDecay 0.01). */
export class AdamW extends AdamFamily {
  readonly kind = 'AdamW';
  protected readonly decoupled = true;
  constructor(params: ParamsInput<AdamGroup>, options: AdamOptions = {}) {
    const { foreach, ...hyper } = options;
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, ...hyper }, foreach);
  }
}
