/**
 * L2 projected gradient attack (`ol.attack.pgd`): an empirical check of certified radii. It maximises the
 * margin loss max_{j≠y} f_j(x + δ) − f_y(x + δ) over ‖δ‖₂ ≤ eps per sample, by normalised gradient steps
 * and projection, from `restarts` random starts (the first restart starts at δ = 0).
 */
import { noGrad } from '../autograd/tape';
import { check } from '../errors';
import { tensor } from '../ops/creation';
import { mul } from '../ops/elementwise';
import { sum } from '../ops/reduce';
import { describe, requireTensor } from '../ops/run';
import { Tensor, tidy } from '../tensor';

/** Options of `pgd`. */
export interface PgdOptions {
  /** L2 radius: one for all samples or one per sample. */
  eps: number | ArrayLike<number>;
  /** Gradient steps per restart. */
  steps: number;
  /** Step length as a fraction of each sample's eps (e.g. 0.1). */
  stepSize: number;
  /** Random restarts (default 1). */
  restarts?: number;
  /** Seed of the random starts (default 0). */
  seed?: number;
}

/** Result of `pgd`. */
export interface PgdResult {
  /** The perturbed inputs (the successful ones where found, else the last iterate), shape of x, float64 host values. */
  adversarial: Float64Array;
  /** Per sample: whether some x + δ with ‖δ‖ ≤ eps was classified other than its label. */
  success: boolean[];
  /** Per sample: the norm of the returned perturbation. */
  norms: Float64Array;
}

/**
 * Attacks `model` (anything with `forward(x) → logits [N, C]`) at x [N, ...] with labels y. Each step
 * evaluates the model and one backward pass on the whole batch. Cost: restarts·steps forward+backward.
 */
export function pgd(model: { forward(x: Tensor): Tensor }, x: Tensor, labels: ArrayLike<number>, options: PgdOptions): PgdResult {
  requireTensor(x, 'attack.pgd', 'x');
  check(typeof options === 'object' && options !== null, 'ERR_ARGUMENT', 'attack.pgd: options must be an object { eps, steps, stepSize, restarts? }');
  const N = x.shape[0];
  const D = x.size / N;
  const eps = typeof options.eps === 'number' ? new Array<number>(N).fill(options.eps) : Array.from(options.eps);
  check(eps.length === N && eps.every((e) => Number.isFinite(e) && e >= 0), 'ERR_ARGUMENT',
    () => `attack.pgd: 'eps' must be a number ≥ 0 or one per sample (${N}), got ${describe(options.eps)}`);
  check(Number.isInteger(options.steps) && options.steps >= 1, 'ERR_ARGUMENT', () => `attack.pgd: 'steps' must be a positive integer, got ${describe(options.steps)}`);
  check(Number.isFinite(options.stepSize) && options.stepSize > 0, 'ERR_ARGUMENT', () => `attack.pgd: 'stepSize' must be > 0, got ${describe(options.stepSize)}`);
  const restarts = options.restarts ?? 1;
  check(Number.isInteger(restarts) && restarts >= 1, 'ERR_ARGUMENT', () => `attack.pgd: 'restarts' must be a positive integer, got ${describe(restarts)}`);
  const ys = Array.from(labels);
  check(ys.length === N, 'ERR_SHAPE', () => `attack.pgd: expected ${N} labels, got ${ys.length}`);
  const x0 = Float64Array.from(x.data());
  const best = Float64Array.from(x0);
  const success = new Array<boolean>(N).fill(false);
  let s = (options.seed ?? 0) * 2654435761 + 12345;
  const uni = (): number => {
    s = (Math.imul(s ^ (s >>> 15), 1 | s) + 0x6d2b79f5) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const gauss = (): number => Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni());
  for (let rs = 0; rs < restarts; rs++) {
    const delta = new Float64Array(N * D);
    if (rs > 0)
      for (let n = 0; n < N; n++) {
        let nn = 0;
        for (let i = 0; i < D; i++) nn += (delta[n * D + i] = gauss()) ** 2;
        const r = (eps[n] * uni() ** (1 / D)) / Math.sqrt(nn);
        for (let i = 0; i < D; i++) delta[n * D + i] *= r;
      }
    for (let step = 0; step <= options.steps; step++) {
      const { logits, grad } = tidy(() => {
        const xa = tensor(x0.map((v, i) => v + delta[i]), { shape: x.shape, dtype: x.dtype, device: x.device, requiresGrad: true });
        const f = model.forward(xa);
        const C = f.shape[1];
        const fl = Float64Array.from(f.data());
        const w = new Float64Array(N * C);
        for (let n = 0; n < N; n++) {
          let jStar = -1;
          for (let j = 0; j < C; j++) if (j !== ys[n] && (jStar < 0 || fl[n * C + j] > fl[n * C + jStar])) jStar = j;
          w[n * C + jStar] = 1;
          w[n * C + ys[n]] = -1;
        }
        const loss = sum(mul(f, tensor(w, { shape: [N, C], dtype: f.dtype, device: f.device })));
        loss.backward();
        return { logits: fl, grad: Float64Array.from(xa.grad!.data()), C };
      });
      const C = logits.length / N;
      for (let n = 0; n < N; n++) {
        if (success[n]) continue;
        let arg = 0;
        for (let j = 1; j < C; j++) if (logits[n * C + j] > logits[n * C + arg]) arg = j;
        if (arg !== ys[n]) {
          success[n] = true;
          for (let i = 0; i < D; i++) best[n * D + i] = x0[n * D + i] + delta[n * D + i];
        }
      }
      if (step === options.steps) break;
      for (let n = 0; n < N; n++) {
        let gn = 0;
        for (let i = 0; i < D; i++) gn += grad[n * D + i] ** 2;
        gn = Math.sqrt(gn) || 1;
        let dn = 0;
        for (let i = 0; i < D; i++) {
          delta[n * D + i] += (options.stepSize * eps[n] * grad[n * D + i]) / gn;
          dn += delta[n * D + i] ** 2;
        }
        dn = Math.sqrt(dn);
        if (dn > eps[n]) for (let i = 0; i < D; i++) delta[n * D + i] *= eps[n] / dn;
      }
    }
    if (rs === restarts - 1)
      for (let n = 0; n < N; n++) if (!success[n]) for (let i = 0; i < D; i++) best[n * D + i] = x0[n * D + i] + delta[n * D + i];
  }
  const norms = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let t = 0;
    for (let i = 0; i < D; i++) t += (best[n * D + i] - x0[n * D + i]) ** 2;
    norms[n] = Math.sqrt(t);
  }
  return { adversarial: best, success, norms };
}
