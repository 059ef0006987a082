// The optimiser base: parameter groups with their own hyperparameters (a scheduler may change them
// between steps), the no-grad step loop, and a state dict of tensors + JSON for resuming training.
import { keep, noGrad, tidy, Tensor } from '../../torch/index.js';
import { HipfracError } from '../../util/index.js';
import { NnError } from '../errors.js';

/** A parameter about to be updated, with its gradient and its optimiser state. */
export interface GroupItem {
  readonly param: Tensor;
  readonly grad: Tensor;
  readonly state: Map<string, Tensor>;
}

/** What every parameter group has; each optimiser adds its own hyperparameters. */
export interface ParamGroup {
  params: Tensor[];
  lr: number;
}

/** A hyperparameter's value as stored in the state dict's JSON. */
export type Hyperparameter = number | boolean | number[];

/** Parameters as the optimisers accept them: one list, one list per group, or groups with options. */
export type ParamsInput<G extends ParamGroup> = readonly Tensor[] | readonly (readonly Tensor[])[] | readonly (Partial<Omit<G, 'params'>> & { params: readonly Tensor[] })[];

/** The JSON half of an optimiser's state dict. */
export interface OptimizerMeta {
  readonly format: 'hipfrac.optimizer';
  readonly version: 1;
  readonly kind: string;
  /** Per group: the indices of its parameters (counted across groups, in order) and its hyperparameters. */
  readonly paramGroups: { params: number[]; [hyperparameter: string]: Hyperparameter }[];
}

/**
 * An optimiser's state: tensors named `<param index>.<state name>` (e.g. `3.exp_avg`, as PyTorch
 * numbers them) for a safetensors file, and the JSON-safe `meta`.
 */
export interface OptimizerState {
  readonly tensors: Map<string, Tensor>;
  readonly meta: OptimizerMeta;
}

export function badHyperparameter(kind: string, group: number, name: string, value: unknown, rule: string): HipfracError {
  return new NnError('HF_OPTIM_BAD_HYPERPARAMETER', `${kind}: parameter group ${group} has ${name} = ${JSON.stringify(value)}; ${rule}.`, {
    input: `paramGroups[${group}].${name}`,
    fix: `set ${name} to a value that satisfies: ${rule}.`,
  });
}

export abstract class Optimizer<G extends ParamGroup> {
  /** The groups; set `paramGroups[i].lr` (and betas / momentum) between steps to schedule them. */
  readonly paramGroups: G[] = [];
  /** Per-parameter state tensors, kept outside every tidy scope and owned by the optimiser. */
  protected readonly state = new Map<Tensor, Map<string, Tensor>>();
  private readonly defaults: Omit<G, 'params'>;

  /** 'Adam', 'AdamW', 'SGD': stored in the state dict so a state cannot be loaded into the wrong kind. */
  abstract readonly kind: string;
  /** The names of the per-parameter state tensors this optimiser keeps. */
  protected abstract readonly stateNames: readonly string[];

  protected constructor(params: ParamsInput<G>, defaults: Omit<G, 'params'>) {
    this.defaults = defaults;
    type GroupInput = Partial<Omit<G, 'params'>> & { params: readonly Tensor[] };
    const groups: GroupInput[] = isTensorList(params)
      ? [{ params } as GroupInput]
      : (params as readonly unknown[]).map((g) => (isTensorList(g) ? ({ params: g } as GroupInput) : (g as GroupInput)));
    for (const group of groups) this.addParamGroup(group);
    if (this.paramGroups.every((g) => g.params.length === 0)) {
      throw new NnError('HF_OPTIM_NO_PARAMS', `${this.constructor.name} got an empty parameter list.`, { fix: 'pass model.parameters() or the model\'s layer groups.' });
    }
  }

  /** Adds a group (e.g. a newly unfrozen part of the model); options not given take the defaults. */
  addParamGroup(group: Partial<Omit<G, 'params'>> & { params: readonly Tensor[] }): void {
    const full = { ...this.defaults, ...group, params: [...group.params] } as unknown as G;
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of full.params) {
      if (seen.has(p)) {
        throw new NnError('HF_OPTIM_DUPLICATE_PARAM', `${this.constructor.name}: a parameter appears in more than one group (or twice in one).`, { fix: 'give each parameter to exactly one group.' });
      }
      if (!p.isLeaf) {
        throw new NnError('HF_OPTIM_NON_LEAF', `${this.constructor.name} cannot optimise a tensor computed from others (a non-leaf).`, { input: p.toString(), fix: 'pass the module\'s parameters themselves.' });
      }
      seen.add(p);
    }
    this.validateGroup(full, this.paramGroups.length);
    this.paramGroups.push(full);
  }

  /** Checks a group's hyperparameters (at construction and before every step, since schedulers edit them). */
  protected validateGroup(group: G, index: number): void {
    if (!Number.isFinite(group.lr) || group.lr < 0) throw badHyperparameter(this.kind, index, 'lr', group.lr, 'a finite number ≥ 0');
  }

  /** Updates one parameter from its gradient (inside no-grad and a tidy scope). */
  protected abstract updateParam(param: Tensor, grad: Tensor, group: G, state: Map<string, Tensor>): void;

  /**
   * Updates a whole group at once with the _foreach_ (multi-tensor) operators, as PyTorch does by default
   * for CUDA parameters: one kernel per formula step instead of one per parameter. Returns false where
   * the optimiser keeps to the per-parameter path (the default, and always on the CPU, where PyTorch
   * does too and the steps must stay bit-identical to its).
   */
  protected updateGroup(_items: readonly GroupItem[], _group: G): boolean {
    return false;
  }

  /**
   * One optimisation step over every parameter that requires grad and has a gradient; others
   * (frozen layers, unused parameters) are left untouched, bit for bit.
   */
  step(): void {
    this.paramGroups.forEach((group, i) => this.validateGroup(group, i));
    noGrad(() => {
      for (const group of this.paramGroups) {
        tidy(() => {
          const items: GroupItem[] = [];
          for (const param of group.params) {
            if (!param.requiresGrad) continue;
            const grad = param.grad;
            if (grad === null) continue;
            let state = this.state.get(param);
            if (state === undefined) {
              state = new Map();
              this.state.set(param, state);
            }
            items.push({ param, grad, state });
          }
          if (items.length === 0 || this.updateGroup(items, group)) return;
          // Per parameter, each in its own scope so temporaries never pile up across a large model.
          for (const { param, grad, state } of items) tidy(() => this.updateParam(param, grad, group, state));
        });
      }
    });
  }

  /** Stores a new state tensor, exempt from the step's tidy scope. */
  protected initState(state: Map<string, Tensor>, name: string, value: Tensor): Tensor {
    state.set(name, keep(value));
    return value;
  }

  /** Drops every parameter's gradient (sets `.grad` to null, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null;
  }

  private allParams(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * A copy of the state: the caller owns the returned tensors (save them, then dispose them).
   * Save with `saveSafetensors(file, state.tensors)` and `JSON.stringify(state.meta)`.
   */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    this.allParams().forEach((p, index) => {
      const state = this.state.get(p);
      if (state !== undefined) for (const [name, t] of state) tensors.set(`${index}.${name}`, t.clone());
    });
    let next = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const entry: { params: number[]; [k: string]: Hyperparameter } = { params: group.params.map(() => next++) };
      for (const [key, value] of Object.entries(group)) {
        if (key === 'params') continue;
        entry[key] = Array.isArray(value) ? [...(value as number[])] : (value as Hyperparameter);
      }
      return entry;
    });
    return { tensors, meta: { format: 'hipfrac.optimizer', version: 1, kind: this.kind, paramGroups } };
  }

  /**
   * Restores a state from stateDict() (possibly through a file): state tensors and each group's
   * hyperparameters. The optimiser takes ownership of `state.tensors` (do not dispose them afterwards);
   * nothing changes when the state does not fit this optimiser's groups and parameters.
   */
  loadStateDict(state: { readonly tensors: ReadonlyMap<string, Tensor>; readonly meta: unknown }): void {
    const meta = state.meta as Partial<OptimizerMeta> | null;
    const refuse = (what: string): HipfracError =>
      new NnError('HF_OPTIM_BAD_STATE', `${this.kind}: the optimizer state does not fit: ${what}.`, {
        fix: 'load a state saved from the same optimiser over the same model and parameter groups, or start without it.',
      });
    if (meta === null || typeof meta !== 'object' || meta.format !== 'hipfrac.optimizer' || !Array.isArray(meta.paramGroups)) throw refuse('its meta is not a hipfrac optimizer state');
    if (meta.kind !== this.kind) throw refuse(`it was saved by ${String(meta.kind)}`);
    if (meta.paramGroups.length !== this.paramGroups.length) throw refuse(`it has ${meta.paramGroups.length} parameter groups, this optimiser ${this.paramGroups.length}`);
    meta.paramGroups.forEach((saved, i) => {
      const own = this.paramGroups[i] as G;
      if (!Array.isArray(saved.params) || saved.params.length !== own.params.length) throw refuse(`group ${i} has ${String(saved.params?.length)} parameters, this optimiser's ${own.params.length}`);
      for (const [key, value] of Object.entries(saved)) {
        if (key === 'params') continue;
        const current = (own as unknown as Record<string, unknown>)[key];
        if (current === undefined || typeof current !== typeof value || Array.isArray(current) !== Array.isArray(value)) throw refuse(`group ${i} has an unknown or mistyped hyperparameter '${key}'`);
      }
      try {
        this.validateGroup({ ...own, ...saved, params: own.params } as G, i);
      } catch (error) {
        throw refuse((error as Error).message);
      }
    });
    const params = this.allParams();
    const incoming = new Map<Tensor, Map<string, Tensor>>();
    for (const [key, t] of state.tensors) {
      const dot = key.indexOf('.');
      const index = Number(key.slice(0, dot));
      const name = key.slice(dot + 1);
      const param = dot > 0 && Number.isInteger(index) ? params[index] : undefined;
      if (param === undefined || !this.stateNames.includes(name)) throw refuse(`tensor '${key}' names no parameter or state of this optimiser`);
      const expected = name === 'step' ? [] : param.shape;
      const shape = t.shape;
      if (shape.length !== expected.length || shape.some((d, k) => d !== expected[k])) throw refuse(`tensor '${key}' has shape [${shape.join(', ')}], its parameter needs [${expected.join(', ')}]`);
      let entry = incoming.get(param);
      if (entry === undefined) incoming.set(param, (entry = new Map()));
      entry.set(name, t);
    }
    // Everything fits: swap the state in (moving tensors to each parameter's device and dtype).
    for (const entry of this.state.values()) for (const t of entry.values()) t.dispose();
    this.state.clear();
    for (const [param, entry] of incoming) {
      const adopted = new Map<string, Tensor>();
      for (const [name, t] of entry) {
        // The step count stays a float32 CPU scalar (as PyTorch keeps it); the rest follow the parameter.
        const dtype = name === 'step' ? 'float32' : param.dtype;
        const device = name === 'step' ? 'cpu' : param.device;
        let value = t;
        if (t.device !== device) value = value.to(device);
        if (value.dtype !== dtype) {
          const cast = value.to(dtype);
          if (value !== t) value.dispose();
          value = cast;
        }
        if (value !== t) t.dispose();
        adopted.set(name, keep(value));
      }
      this.state.set(param, adopted);
    }
    meta.paramGroups.forEach((saved, i) => {
      const own = this.paramGroups[i] as unknown as Record<string, unknown>;
      for (const [key, value] of Object.entries(saved)) if (key !== 'params') own[key] = Array.isArray(value) ? [...value] : value;
    });
  }

  /** Frees the state tensors (the parameters are the model's, not the optimiser's). */
  dispose(): void {
    for (const entry of this.state.values()) for (const t of entry.values()) t.dispose();
    this.state.clear();
  }
}

function isTensorList(value: unknown): value is readonly Tensor[] {
  return Array.isArray(value) && value.every((v) => v instanceof Tensor);
}
