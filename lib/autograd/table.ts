/**
 * The gradient table: one entry per differentiable native op, keyed by the op's registry name
 * (DESIGN.md §3). Op families register their entries beside their typed wrappers
 * (`lib/ops/<family>.ts`); the tape (`lib/autograd/tape.ts`) looks them up when it records a call.
 */
import { OnelipError } from '../errors';
import type { Tensor } from '../tensor';

/** What a gradient function sees of the recorded call. */
export interface GradContext {
  /** The registry name of the op. */
  readonly op: string;
  /** The op's inputs, as passed (kept alive by the tape until backward has used them). */
  readonly inputs: readonly Tensor[];
  /** The op's outputs (only when the entry sets `saveOutputs`; otherwise empty). */
  readonly outputs: readonly Tensor[];
  /** The attributes the op ran with. */
  readonly attrs: Readonly<Record<string, unknown>>;
  /** needsGrad[i]: whether input i wants a gradient; the function may return null for the others. */
  readonly needsGrad: readonly boolean[];
}

/** How to differentiate one op. */
export interface GradientEntry {
  /**
   * The gradients of the op's inputs given the gradients of its outputs (one per output, each
   * with the output's shape; zeros where nothing flowed back). Returns one entry per input: a tensor
   * of that input's shape and dtype, or null where there is no gradient (integer inputs, inputs that
   * do not need one). Runs with recording off.
   */
  grad(gradOutputs: Tensor[], ctx: GradContext): (Tensor | null)[];
  /** Whether `grad` reads the op's outputs (they are then kept alive until backward). Default false. */
  saveOutputs?: boolean;
}

const table = new Map<string, GradientEntry>();

/** Registers the gradient of `op`. Registering one op twice is a programming error. */
export function defineGradient(op: string, entry: GradientEntry): void {
  if (table.has(op) || nonDifferentiable.has(op)) throw new OnelipError('ERR_INTERNAL', `defineGradient: '${op}' already has a gradient entry`);
  table.set(op, entry);
}

/** The gradient entry of `op`, or undefined for ops that are not differentiable. */
export function gradientOf(op: string): GradientEntry | undefined {
  return table.get(op);
}

const nonDifferentiable = new Map<string, string>();

/**
 * Declares that `op` has no gradient (comparisons, random numbers, integer ops, power iterations...):
 * the tape does not record it, its outputs are constants. `why` is shown by tests and docs. Every
 * registered op must have either a gradient entry or this declaration (test/autograd.test.ts).
 */
export function defineNonDifferentiable(op: string, why: string): void {
  if (table.has(op) || nonDifferentiable.has(op)) {
    throw new OnelipError('ERR_INTERNAL', `defineNonDifferentiable: '${op}' already has a gradient decision`);
  }
  nonDifferentiable.set(op, why);
}

/** Whether `op` was declared non-differentiable. */
export function isNonDifferentiable(op: string): boolean {
  return nonDifferentiable.has(op);
}

/** The non-differentiable ops with their reasons, sorted by name. */
export function nonDifferentiableOps(): [string, string][] {
  return [...nonDifferentiable.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** Names of the ops with a gradient entry, sorted. */
export function differentiableOps(): string[] {
  return [...table.keys()].sort();
}
