// Module: the building block of every network, with parameters, buffers and children whose dotted
// names are PyTorch's state_dict keys (`features.denseblock1.denselayer1.conv1.weight`).
import { isDType, keep, noGrad, Tensor } from '../torch/index.js';
import { NnError } from './errors.js';

export type ForwardHook = (module: Module, input: Tensor, output: Tensor) => void;

export interface HookHandle {
  remove(): void;
}

export interface LoadReport {
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
  readonly mismatchedKeys: { key: string; expected: number[]; received: number[] }[];
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly buffers = new Map<string, Tensor | null>();
  private readonly nonPersistent = new Set<string>();
  private readonly children = new Map<string, Module>();
  private readonly forwardHooks = new Set<ForwardHook>();

  /** The computation; call `module.call(x)` to run it with hooks. */
  abstract forward(input: Tensor): Tensor;

  /** Runs forward and the forward hooks (as calling a torch.nn.Module). */
  call(input: Tensor): Tensor {
    const output = this.forward(input);
    for (const hook of this.forwardHooks) hook(this, input, output);
    return output;
  }

  get hasForwardHooks(): boolean {
    return this.forwardHooks.size > 0;
  }

  /** Registers a hook called after every forward with (module, input, output); Grad-CAM uses it. */
  registerForwardHook(hook: ForwardHook): HookHandle {
    this.forwardHooks.add(hook);
    return { remove: () => this.forwardHooks.delete(hook) };
  }

  // --- registration ---
  protected registerParameter(name: string, value: Tensor | null): Tensor | null {
    this.checkName(name);
    if (value !== null) {
      keep(value);
      if (!value.requiresGrad) value.requiresGrad_(true);
    }
    this.params.set(name, value);
    return value;
  }

  protected registerBuffer(name: string, value: Tensor | null, persistent = true): Tensor | null {
    this.checkName(name);
    if (value !== null) keep(value);
    this.buffers.set(name, value);
    if (!persistent) this.nonPersistent.add(name);
    return value;
  }

  /** Adds a child under `name` (its keys become `name.…`). Returns the child. */
  registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.children.set(name, module);
    return module;
  }

  private checkName(name: string): void {
    if (name === '' || name.includes('.')) {
      throw new NnError('HF_NN_BAD_NAME', `module attribute name '${name}' is not allowed.`, { fix: 'use a non-empty name without dots.' });
    }
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new NnError('HF_NN_DUPLICATE_NAME', `'${name}' is already registered in ${this.constructor.name}.`);
    }
  }

  /** A parameter by local name (throws when absent). */
  param(name: string): Tensor {
    const p = this.params.get(name);
    if (p === undefined || p === null) throw new NnError('HF_NN_NO_PARAMETER', `${this.constructor.name} has no parameter '${name}'.`);
    return p;
  }
  /** A parameter or null (e.g. an optional bias). */
  paramOrNull(name: string): Tensor | null {
    return this.params.get(name) ?? null;
  }
  buffer(name: string): Tensor | null {
    return this.buffers.get(name) ?? null;
  }
  /** Replaces a buffer's tensor (used by loaders when a dtype/device changes). */
  protected setBuffer(name: string, value: Tensor): void {
    const old = this.buffers.get(name);
    keep(value);
    this.buffers.set(name, value);
    if (old !== undefined && old !== null && old !== value) old.dispose();
  }
  child(name: string): Module {
    const c = this.children.get(name);
    if (c === undefined) throw new NnError('HF_NN_NO_MODULE', `${this.constructor.name} has no child module '${name}'.`);
    return c;
  }

  // --- traversal ---
  *namedChildren(): Generator<[string, Module]> {
    yield* this.children;
  }
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, child] of this.children) yield* child.namedModules(prefix === '' ? name : `${prefix}.${name}`);
  }
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, p] of module.params) if (p !== null) yield [path === '' ? name : `${path}.${name}`, p];
    }
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = '', persistentOnly = false): Generator<[string, Tensor]> {
    for (const [path, module] of this.namedModules(prefix)) {
      for (const [name, b] of module.buffers) {
        if (b === null || (persistentOnly && module.nonPersistent.has(name))) continue;
        yield [path === '' ? name : `${path}.${name}`, b];
      }
    }
  }
  /** Looks up a submodule by dotted path ('' is this module). */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let current: Module | undefined;
    for (const part of path.split('.')) {
      const next: Module | undefined = (current ?? this).children.get(part);
      if (next === undefined) {
        throw new NnError('HF_NN_NO_MODULE', `no submodule '${path}' (stopped at '${part}').`, {
          fix: `choose one of: ${[...this.namedModules()].map(([n]) => n).filter((n) => n !== '').slice(0, 20).join(', ')}…`,
        });
      }
      current = next;
    }
    return current ?? this;
  }
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  // --- modes ---
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Sets requiresGrad on every parameter (false = frozen). */
  requiresGrad_(value: boolean): this {
    for (const p of this.parameters()) p.requiresGrad_(value);
    return this;
  }
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // --- state ---
  /** Parameters and persistent buffers by state_dict key (the module's own tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [path, module] of this.namedModules()) {
      const key = (name: string): string => (path === '' ? name : `${path}.${name}`);
      for (const [name, p] of module.params) if (p !== null) out.set(key(name), p);
      for (const [name, b] of module.buffers) if (b !== null && !module.nonPersistent.has(name)) out.set(key(name), b);
    }
    return out;
  }

  /**
   * Copies tensors into this module by key. Strict (default) throws listing every missing,
   * unexpected and mis-shaped key; non-strict loads what fits and returns the same report.
   */
  loadStateDict(state: ReadonlyMap<string, Tensor>, options: { strict?: boolean; source?: string } = {}): LoadReport {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const report: LoadReport = { missingKeys: [], unexpectedKeys: [], mismatchedKeys: [] };
    for (const key of own.keys()) if (!state.has(key)) report.missingKeys.push(key);
    for (const key of state.keys()) if (!own.has(key)) report.unexpectedKeys.push(key);
    for (const [key, target] of own) {
      const source = state.get(key);
      if (source === undefined) continue;
      const a = target.shape;
      const b = source.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) report.mismatchedKeys.push({ key, expected: a, received: b });
    }
    const problems = report.missingKeys.length + report.unexpectedKeys.length + report.mismatchedKeys.length;
    if (strict && problems > 0) {
      throw new NnError('HF_NN_STATE_DICT_MISMATCH', `state_dict does not fit ${this.constructor.name}: ${formatLoadReport(report)}`, {
        ...(options.source === undefined ? {} : { input: options.source }),
        fix: 'check that the weight file is for this architecture and head, or load with strict: false to keep the fitting tensors.',
      });
    }
    const mismatched = new Set(report.mismatchedKeys.map((m) => m.key));
    noGrad(() => {
      for (const [key, target] of own) {
        const source = state.get(key);
        if (source === undefined || mismatched.has(key)) continue;
        target.copy_(source);
      }
    });
    return report;
  }

  /** Moves every parameter and buffer to a device or dtype (in place on this module). */
  to(target: string): this {
    noGrad(() => {
      for (const [, module] of this.namedModules()) {
        for (const [name, p] of module.params) {
          if (p === null) continue;
          const moved = keep(p.to(target).detach());
          moved.requiresGrad_(p.requiresGrad);
          module.params.set(name, moved);
          p.dispose();
        }
        for (const [name, b] of module.buffers) {
          if (b === null) continue;
          // Integer buffers (num_batches_tracked) keep their dtype on a dtype cast.
          if (isDType(target) && !b.dtype.startsWith('float')) continue;
          module.setBuffer(name, b.to(target));
        }
      }
    });
    return this;
  }

  /** Frees every parameter and buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const [, module] of this.namedModules()) {
      for (const p of module.params.values()) p?.dispose();
      for (const b of module.buffers.values()) b?.dispose();
    }
  }
}

export function formatLoadReport(report: LoadReport, limit = 10): string {
  const list = (keys: string[]): string => keys.slice(0, limit).join(', ') + (keys.length > limit ? ` … (+${keys.length - limit} more)` : '');
  const parts: string[] = [];
  if (report.missingKeys.length > 0) parts.push(`${report.missingKeys.length} missing key(s): ${list(report.missingKeys)}`);
  if (report.unexpectedKeys.length > 0) parts.push(`${report.unexpectedKeys.length} unexpected key(s): ${list(report.unexpectedKeys)}`);
  if (report.mismatchedKeys.length > 0) {
    const shapes = report.mismatchedKeys.map((m) => `${m.key} (expected [${m.expected.join(', ')}], file has [${m.received.join(', ')}])`);
    parts.push(`${report.mismatchedKeys.length} mis-shaped key(s): ${list(shapes)}`);
  }
  return parts.length === 0 ? 'all keys match' : parts.join('; ');
}
