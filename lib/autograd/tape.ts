/**
 * The autograd tape. When recording is on (everywhere except inside `noGrad`) and an input of an op
 * requires grad, `runOp` (lib/ops/run.ts) records a `Node`: the op, its inputs, attributes and, when
 * its gradient entry asks for them, its outputs. Each output points at its node (`Tensor.node_`), so
 * the graph is the DAG reachable from a result through `node_` → inputs → `node_` ...
 * `Tensor.backward()` walks that DAG in reverse topological order with the gradient table
 * (./table.ts) and accumulates into `.grad` of the leaves that require grad.
 *
 * Lifetime rules:
 * - The tape keeps references, it does not own the recorded tensors: inputs and saved outputs stay
 *   the caller's (a tidy() scope disposes them as usual). Backward after one of them was disposed
 *   throws ERR_DISPOSED naming the op and the input. Temporaries an op wrapper made for the call
 *   (e.g. the 0-d tensor of `add(x, 2)`) are owned by the node and disposed when it is released.
 * - Backward disposes every intermediate gradient as soon as the node it flows into has used it,
 *   and releases each node (drops its references, disposes what it owns) right after its gradient
 *   ran, unless `retainGraph` is set.
 * - A leaf's `.grad` belongs to the leaf: it is taken out of every tidy() scope and disposed with
 *   the leaf (see `Tensor.grad`).
 */
import { check, OnelipError } from '../errors';
import type { Tensor } from '../tensor';
import { GradContext, GradientEntry, gradientOf, isNonDifferentiable } from './table';

let enabled = true;

/** Whether ops are currently recorded (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return enabled;
}

/**
 * Runs `fn` with recording off: no op inside records anything on the tape, so its results do not
 * require grad (e.g. parameter updates, evaluation, power iterations). Nested calls are fine.
 * Returns what `fn` returns; `fn` must be synchronous.
 */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new OnelipError('ERR_ARGUMENT', 'noGrad: expected a function');
  const before = enabled;
  enabled = false;
  try {
    return fn();
  } finally {
    enabled = before;
  }
}

/** Options of `Tensor.backward`. */
export interface BackwardOptions {
  /** Keep the recorded graph (and its saved tensors) so that backward can run through it again. */
  retainGraph?: boolean;
}

/** One recorded op call. */
export class Node {
  /** Set once backward has freed the node (its references are gone). */
  released = false;
  /** Temporaries created for this call by the op wrapper, disposed on release. */
  owned: Tensor[] = [];
  readonly outShapes: number[][];
  readonly outDTypes: Tensor['dtype'][];
  readonly outDevices: Tensor['device'][];

  constructor(
    readonly op: string,
    readonly entry: GradientEntry | undefined,
    public inputs: Tensor[],
    public outputs: Tensor[],
    readonly attrs: Readonly<Record<string, unknown>>,
    readonly needsGrad: boolean[],
    outs: Tensor[],
  ) {
    this.outShapes = outs.map((t) => t.shape);
    this.outDTypes = outs.map((t) => t.dtype);
    this.outDevices = outs.map((t) => t.device);
  }

  release(): void {
    this.released = true;
    for (const t of this.owned) t.dispose();
    this.owned = [];
    this.inputs = [];
    this.outputs = [];
  }
}

const isFloat = (t: Tensor): boolean => t.dtype !== 'int32';

/** Whether a call with these inputs must be recorded (cheap: no tensor requires grad → false). */
export function wantsRecord(inputs: readonly Tensor[]): boolean {
  if (!enabled) return false;
  for (const t of inputs) if (t.requiresGrad) return true;
  return false;
}

/**
 * Records `op(inputs) → outputs` when recording is on and an input requires grad; returns the node
 * (null when nothing was recorded). Ops listed as non-differentiable are not recorded (their outputs
 * are constants); ops with neither a gradient entry nor that listing are recorded without an entry,
 * and backward through them throws ERR_UNSUPPORTED.
 */
export function record(op: string, inputs: Tensor[], outputs: Tensor[], attrs: Record<string, unknown>): Node | null {
  if (!wantsRecord(inputs)) return null;
  if (isNonDifferentiable(op)) return null;
  const entry = gradientOf(op);
  const needsGrad = inputs.map((t) => t.requiresGrad && isFloat(t));
  if (!needsGrad.some((b) => b) || !outputs.some(isFloat)) return null;
  const node = new Node(op, entry, inputs.slice(), entry?.saveOutputs ? outputs.slice() : [], { ...attrs }, needsGrad, outputs);
  outputs.forEach((t, i) => {
    if (!isFloat(t)) return;
    t.requiresGrad = true;
    t.node_ = node;
    t.outputIndex_ = i;
  });
  return node;
}

/** Records a one-input view or copy made outside the op registry (reshape, to). */
export function recordView(op: string, input: Tensor, output: Tensor, attrs: Record<string, unknown>): void {
  record(op, [input], [output], attrs);
}

/**
 * Hands wrapper temporaries to the node that recorded `out`, or disposes them now when nothing was
 * recorded.
 */
export function adoptOrDispose(out: Tensor, temps: Tensor[]): void {
  const node = out.node_;
  if (node !== null && !node.released) node.owned.push(...temps);
  else for (const t of temps) t.dispose();
}

// ---- backward ----

// run.ts and tensor.ts import this module, so they are required on first use (then cached).
/* eslint-disable @typescript-eslint/no-var-requires */
let opsModule: typeof import('../ops/run') | undefined;
let tensorModule: typeof import('../tensor') | undefined;
const ops = () => (opsModule ??= require('../ops/run') as typeof import('../ops/run'));
const tensors = () => (tensorModule ??= require('../tensor') as typeof import('../tensor'));
/* eslint-enable @typescript-eslint/no-var-requires */

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A gradient tensor the engine owns: a fresh view when `g` is not ours to dispose. */
function view(g: Tensor): Tensor {
  return g.detach();
}

/** Implements Tensor.backward (see there). */
export function backward(root: Tensor, grad: Tensor | undefined, options?: BackwardOptions): void {
  const { Tensor: TensorClass, keep } = tensors();
  const { run1 } = ops();
  check(root instanceof TensorClass, 'ERR_ARGUMENT', 'backward: expected a Tensor');
  check(!root.isDisposed, 'ERR_DISPOSED', 'backward: the tensor is disposed');
  check(options === undefined || (typeof options === 'object' && options !== null), 'ERR_ARGUMENT', 'backward: options must be an object { retainGraph? }');
  const retain = options?.retainGraph === true;
  check(root.requiresGrad, 'ERR_ARGUMENT',
    'backward: the tensor does not require grad (no input of the ops that made it had requiresGrad, or it was computed inside noGrad / from detach())');
  check(isFloat(root), 'ERR_DTYPE', 'backward: the tensor is int32; only float tensors have gradients');
  const rootNode = root.node_;
  if (rootNode !== null && rootNode.released) {
    throw new OnelipError('ERR_ARGUMENT', `backward: the graph of this tensor was already freed by an earlier backward() (op '${rootNode.op}'); pass { retainGraph: true } to the first call to run backward twice`);
  }

  let g0: Tensor;
  if (grad === undefined) {
    check(root.size === 1, 'ERR_SHAPE',
      () => `backward: the tensor has shape [${root.shape}] (${root.size} elements); a gradient argument of that shape is required unless it has exactly one element`);
    g0 = noGrad(() => run1('fill', [], { shape: root.shape, dtype: root.dtype, value: 1 }, root.device));
  } else {
    check(grad instanceof TensorClass, 'ERR_ARGUMENT', 'backward: grad must be a Tensor');
    check(!grad.isDisposed, 'ERR_DISPOSED', 'backward: grad is a disposed tensor');
    check(sameShape(grad.shape, root.shape) && grad.dtype === root.dtype && grad.device === root.device, 'ERR_SHAPE',
      () => `backward: grad must have the tensor's shape [${root.shape}], dtype ${root.dtype} and device ${root.device}; got shape [${grad.shape}], ${grad.dtype}, ${grad.device}`);
    g0 = view(grad);
  }

  const leafGrads = new Map<Tensor, Tensor>();
  const pending = new Map<Node, (Tensor | undefined)[]>();
  const addInto = (prev: Tensor | undefined, g: Tensor): Tensor => {
    if (prev === undefined) return g;
    const s = noGrad(() => run1('add', [prev, g]));
    prev.dispose();
    g.dispose();
    return s;
  };
  const deliver = (t: Tensor, g: Tensor): void => {
    const n = t.node_;
    if (n !== null) {
      let slots = pending.get(n);
      if (slots === undefined) pending.set(n, (slots = new Array(n.outShapes.length).fill(undefined)));
      slots[t.outputIndex_] = addInto(slots[t.outputIndex_], g);
    } else if (t.requiresGrad) {
      leafGrads.set(t, addInto(leafGrads.get(t), g));
    } else {
      g.dispose();
    }
  };

  try {
    if (rootNode === null) {
      deliver(root, g0);
    } else {
      // Consumers per node inside the reachable graph: a node runs once all of them have delivered.
      const deps = new Map<Node, number>();
      const seen = new Set<Node>([rootNode]);
      const stack = [rootNode];
      while (stack.length > 0) {
        const n = stack.pop()!;
        n.inputs.forEach((t, i) => {
          const m = t.node_;
          if (!n.needsGrad[i] || m === null) return;
          if (m.released) {
            throw new OnelipError('ERR_ARGUMENT', `backward: the graph through op '${m.op}' was already freed by an earlier backward(); pass { retainGraph: true } to the first call to run backward twice`);
          }
          deps.set(m, (deps.get(m) ?? 0) + 1);
          if (!seen.has(m)) {
            seen.add(m);
            stack.push(m);
          }
        });
      }
      deliver(root, g0);
      const ready = [rootNode];
      while (ready.length > 0) {
        const n = ready.pop()!;
        const slots = pending.get(n);
        pending.delete(n);
        const results = slots !== undefined && slots.some((g) => g !== undefined) ? runEntry(n, slots) : [];
        n.inputs.forEach((t, i) => {
          const g = results[i];
          if (n.needsGrad[i] && g) deliver(t, g);
          else if (g) g.dispose();
          const m = t.node_;
          if (!n.needsGrad[i] || m === null) return;
          const left = deps.get(m)! - 1;
          deps.set(m, left);
          if (left === 0) ready.push(m);
        });
        for (const g of results.slice(n.inputs.length)) if (g) g.dispose();
        if (!retain) n.release();
      }
    }
    // Everything computed: hand the leaves their gradients (owned by the leaf, outside tidy scopes).
    for (const [leaf, g] of leafGrads) {
      leafGrads.delete(leaf);
      const prev = leaf.grad;
      const sum = prev !== null ? noGrad(() => run1('add', [prev, g])) : g;
      if (sum !== g) g.dispose();
      keep(sum);
      if (prev !== null) prev.dispose();
      leaf.grad_ = sum;
    }
  } finally {
    for (const slots of pending.values()) for (const g of slots) g?.dispose();
    for (const g of leafGrads.values()) g.dispose();
  }
}

/**
 * Runs the gradient entry of `n` on the gradients of its outputs (missing ones become zeros; all of
 * them are consumed). Returns one owned tensor (or null) per input, validated against the input.
 */
function runEntry(n: Node, slots: (Tensor | undefined)[]): (Tensor | null)[] {
  const { tidy } = tensors();
  const { run1 } = ops();
  const gradOut: Tensor[] = [];
  try {
    if (n.entry === undefined) {
      throw new OnelipError('ERR_UNSUPPORTED',
        `backward: op '${n.op}' has no gradient entry (lib/autograd/table.ts); compute it inside noGrad() or detach() its inputs if no gradient is needed`);
    }
    n.inputs.forEach((t, i) => {
      check(!t.isDisposed, 'ERR_DISPOSED',
        () => `backward: input ${i} of op '${n.op}' was disposed before backward(); keep the tensors of the forward pass alive until backward (e.g. call backward inside the same tidy())`);
    });
    n.outputs.forEach((t, i) => {
      check(!t.isDisposed, 'ERR_DISPOSED',
        () => `backward: output ${i} of op '${n.op}' (saved for its gradient) was disposed before backward(); keep it alive until backward`);
    });
    for (let k = 0; k < slots.length; k++) {
      const g = slots[k];
      gradOut.push(g ?? noGrad(() => run1('fill', [], { shape: n.outShapes[k], dtype: n.outDTypes[k], value: 0 }, n.outDevices[k])));
      slots[k] = undefined;
    }
    const ctx: GradContext = { op: n.op, inputs: n.inputs, outputs: n.outputs, attrs: n.attrs, needsGrad: n.needsGrad };
    const entry = n.entry;
    const before = tensors().lastTensorId();
    const raw = tidy(() => noGrad(() => entry.grad(gradOut, ctx)));
    check(Array.isArray(raw) && raw.length === n.inputs.length, 'ERR_INTERNAL',
      () => `backward: the gradient of '${n.op}' returned ${Array.isArray(raw) ? raw.length : typeof raw} entries for ${n.inputs.length} inputs`);
    const used = new Set<Tensor>();
    return raw.map((g, i) => {
      if (g === null || g === undefined || !n.needsGrad[i]) return null;
      const x = n.inputs[i];
      check(sameShape(g.shape, x.shape) && g.dtype === x.dtype && g.device === x.device, 'ERR_INTERNAL',
        () => `backward: the gradient of '${n.op}' for input ${i} has shape [${g.shape}] ${g.dtype} ${g.device}; the input is [${x.shape}] ${x.dtype} ${x.device}`);
      // Tensors created by the entry are ours; anything else (an output gradient passed through, an
      // input, a repeat) gets its own view so that every delivered gradient can be disposed alone.
      const fresh = g.id_ > before && !used.has(g);
      used.add(g);
      return fresh ? g : view(g);
    });
  } finally {
    for (const g of slots) g?.dispose();
    for (const g of gradOut) g.dispose();
  }
}

