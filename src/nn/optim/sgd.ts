// Stochastic gradient descent with momentum, dampening, Nesterov momentum (Sutskever et al. 2013)
// and L2 weight decay: PyTorch 1.13's single-tensor formula, operation for operation.
import { float, type Tensor } from '../../torch/index.js';
import { badHyperparameter, Optimizer, type ParamGroup, type ParamsInput } from './optimizer.js';

export interface SGDGroup extends ParamGroup {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

export type SGDOptions = Partial<Omit<SGDGroup, 'params'>>;

/** torch.optim.SGD. The momentum buffer starts as the first gradient, as in PyTorch. */
export class SGD extends Optimizer<SGDGroup> {
  readonly kind = 'SGD';
  protected readonly stateNames = ['momentum_buffer'] as const;

  /** `lr` has no default, as in PyTorch. */
  constructor(params: ParamsInput<SGDGroup>, options: SGDOptions & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options });
  }

  protected override validateGroup(group: SGDGroup, index: number): void {
    super.validateGroup(group, index);
    if (!(group.momentum >= 0)) throw badHyperparameter(this.kind, index, 'momentum', group.momentum, 'momentum ≥ 0');
    if (!Number.isFinite(group.dampening)) throw badHyperparameter(this.kind, index, 'dampening', group.dampening, 'a finite number');
    if (!(group.weightDecay >= 0)) throw badHyperparameter(this.kind, index, 'weightDecay', group.weightDecay, 'weightDecay ≥ 0');
    if (group.nesterov && (group.momentum <= 0 || group.dampening !== 0)) {
      throw badHyperparameter(this.kind, index, 'nesterov', group.nesterov, 'Nesterov momentum needs momentum > 0 and dampening 0');
    }
  }

  protected updateParam(param: Tensor, grad: Tensor, group: SGDGroup, state: Map<string, Tensor>): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = group;
    let d = grad;
    if (weightDecay !== 0) d = d.add(param, float(weightDecay));
    if (momentum !== 0) {
      let buffer = state.get('momentum_buffer');
      if (buffer === undefined) {
        buffer = this.initState(state, 'momentum_buffer', d.clone());
      } else {
        buffer.mul_(float(momentum)).add_(d, float(1 - dampening));
      }
      d = nesterov ? d.add(buffer, float(momentum)) : buffer;
    }
    param.add_(d, float(-lr));
  }
}
