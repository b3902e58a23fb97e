/**
 * `gradcheck`: compares the tape's analytic gradients with float64 central finite differences.
 */
import { check, OnelipError } from '../errors';
import { native } from '../native';
import { keep, Tensor, tidy } from '../tensor';
import { noGrad } from './tape';

export interface GradcheckOptions {
  /** Finite-difference step. Default 1e-6. */
  eps?: number;
  /** An element passes when |analytic − numeric| ≤ atol + rtol·|numeric|. Defaults 1e-6 and 1e-5. */
  atol?: number;
  rtol?: number;
  /** Seed of the random projection and directions (deterministic per seed). Default 1. */
  seed?: number;
  /**
   * Inputs with at most this many elements are checked element by element (2 evaluations of `fn`
   * per element); larger ones along `directions` random directions. Default 256.
   */
  maxElements?: number;
  /** Random directions for the larger inputs. Default 4. */
  directions?: number;
  /**
   * Also compare the full Jacobian (one backward per output element, 2 evaluations per input element).
   * 'auto' (default): when the inputs and the output have at most 48 elements each.
   */
  fullJacobian?: boolean | 'auto';
  /** Throw an OnelipError (ERR_GRADCHECK) when a check fails (default true); else return ok: false. */
  raise?: boolean;
}

export interface GradcheckMismatch {
  /** Which check: 'projection' (element), 'direction' (random direction) or 'jacobian'. */
  kind: 'projection' | 'direction' | 'jacobian';
  input: number;
  /** Element of the input (projection, jacobian) or direction number. */
  index: number;
  /** Output element (jacobian only). */
  output?: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckReport {
  ok: boolean;
  /** Number of scalar comparisons made. */
  checked: number;
  /** The largest |analytic − numeric| and the largest error relative to max(|numeric|, atol/rtol). */
  maxAbsError: number;
  maxRelError: number;
  /** Whether the full Jacobian was compared. */
  fullJacobian: boolean;
  /** The failing comparisons (at most 10), worst first. */
  mismatches: GradcheckMismatch[];
}

/** A small deterministic PRNG (mulberry32) with a Box–Muller normal. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/**
 * Checks the gradients of `fn` at `inputs` against float64 central finite differences.
 *
 * `fn(...inputs)` must return a float64 tensor (any shape). Every float input must be a float64
 * tensor (create it, or the module, with dtype 'float64'); int32 inputs are passed through
 * unperturbed. Inputs are perturbed in place (`Tensor.assign`, restored afterwards), so `fn` may also
 * read them through closures — e.g. a module's parameters: `gradcheck((x) => m.forward(x), [x, ...m.parameters()])`.
 * The analytic side is the gradient of ⟨r, fn(...)⟩ for a seeded random r; the numeric side is
 * (⟨r, fn(x + εe)⟩ − ⟨r, fn(x − εe)⟩) / 2ε per element (or along random directions for large inputs),
 * plus, for small problems, the full Jacobian. The inputs' `requiresGrad` and `.grad` are restored.
 * Cost: 2 evaluations of `fn` per checked element. Throws ERR_GRADCHECK with the worst mismatches
 * (unless `raise: false`); returns the report.
 */
export function gradcheck(fn: (...inputs: Tensor[]) => Tensor, inputs: Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  check(typeof fn === 'function', 'ERR_ARGUMENT', 'gradcheck: fn must be a function');
  check(Array.isArray(inputs) && inputs.length > 0, 'ERR_ARGUMENT', 'gradcheck: inputs must be a non-empty array of tensors');
  inputs.forEach((t, i) => {
    check(t instanceof Tensor && !t.isDisposed, 'ERR_ARGUMENT', `gradcheck: inputs[${i}] must be a live Tensor`);
    check(t.dtype !== 'float32', 'ERR_DTYPE', `gradcheck: inputs[${i}] is float32; finite differences need float64 inputs (use dtype 'float64')`);
  });
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-5;
  const maxElements = options.maxElements ?? 256;
  const nDirections = options.directions ?? 4;
  const raise = options.raise ?? true;
  const normal = rng(options.seed ?? 1);
  const floats = inputs.map((t, i) => ({ t, i })).filter(({ t }) => t.dtype === 'float64');
  check(floats.length > 0, 'ERR_ARGUMENT', 'gradcheck: no float64 input to check');

  const saved = inputs.map((t) => ({ requiresGrad: t.requiresGrad, grad: t.grad_ }));
  const original = floats.map(({ t }) => Float64Array.from(t.data()));
  const devices = floats.map(({ t }) => t.device);
  const shapes = floats.map(({ t }) => t.shape);
  for (const t of inputs) t.grad_ = null;

  const mismatches: GradcheckMismatch[] = [];
  let checked = 0;
  let maxAbs = 0;
  let maxRel = 0;
  const compare = (m: GradcheckMismatch): void => {
    checked++;
    const err = Math.abs(m.analytic - m.numeric);
    if (!(err <= maxAbs)) maxAbs = Number.isNaN(err) ? NaN : Math.max(maxAbs, err);
    const rel = err / Math.max(Math.abs(m.numeric), atol / rtol);
    if (!(rel <= maxRel)) maxRel = Number.isNaN(rel) ? NaN : Math.max(maxRel, rel);
    if (!(err <= atol + rtol * Math.abs(m.numeric))) mismatches.push(m);
  };
  const setData = (k: number, data: Float64Array): void => {
    const fresh = new Tensor(native().fromHost(data, shapes[k], 'float64', devices[k]));
    floats[k].t.assign(fresh);
    fresh.dispose();
  };
  const evaluate = (): Tensor => {
    const y = fn(...inputs);
    check(y instanceof Tensor, 'ERR_ARGUMENT', 'gradcheck: fn must return a Tensor');
    check(y.dtype === 'float64', 'ERR_DTYPE', `gradcheck: fn must return a float64 tensor, got ${y.dtype}`);
    return y;
  };

  try {
    // Output shape and the projection r.
    const outShape = tidy(() => noGrad(() => evaluate().shape));
    const outSize = outShape.reduce((a, b) => a * b, 1);
    const r = Float64Array.from({ length: outSize }, () => normal());
    const project = (y: Tensor): number => {
      const d = y.data();
      let s = 0;
      for (let i = 0; i < d.length; i++) s += d[i] * r[i];
      return s;
    };
    const projected = (): number => tidy(() => noGrad(() => project(evaluate())));

    // Analytic gradient of ⟨r, y⟩.
    for (const { t } of floats) t.requiresGrad = true;
    const analytic: Float64Array[] = tidy(() => {
      const y = evaluate();
      check(y.requiresGrad, 'ERR_ARGUMENT', 'gradcheck: the output of fn does not depend on any input through recorded ops');
      const rt = keep(new Tensor(native().fromHost(r, outShape, 'float64', y.device)));
      try {
        y.backward(rt);
      } finally {
        rt.dispose();
      }
      return floats.map(({ t }) => (t.grad_ ? Float64Array.from(t.grad_.data()) : new Float64Array(t.size)));
    });
    for (const { t } of floats) t.clearGrad();

    floats.forEach(({ i }, k) => {
      const x0 = original[k];
      if (x0.length <= maxElements) {
        for (let j = 0; j < x0.length; j++) {
          const xp = Float64Array.from(x0);
          xp[j] = x0[j] + eps;
          setData(k, xp);
          const fp = projected();
          xp[j] = x0[j] - eps;
          setData(k, xp);
          const fm = projected();
          compare({ kind: 'projection', input: i, index: j, analytic: analytic[k][j], numeric: (fp - fm) / (2 * eps) });
        }
      } else {
        for (let d = 0; d < nDirections; d++) {
          const v = Float64Array.from({ length: x0.length }, () => normal());
          let a = 0;
          for (let j = 0; j < v.length; j++) a += v[j] * analytic[k][j];
          setData(k, x0.map((x, j) => x + eps * v[j]));
          const fp = projected();
          setData(k, x0.map((x, j) => x - eps * v[j]));
          const fm = projected();
          compare({ kind: 'direction', input: i, index: d, analytic: a, numeric: (fp - fm) / (2 * eps) });
        }
      }
      setData(k, x0);
    });

    const totalIn = original.reduce((n, a) => n + a.length, 0);
    const full = options.fullJacobian === true || ((options.fullJacobian ?? 'auto') === 'auto' && totalIn <= 48 && outSize <= 48);
    if (full) {
      // Analytic rows: one backward per output element through a retained graph.
      const rows: Float64Array[][] = tidy(() => {
        const y = evaluate();
        const out: Float64Array[][] = [];
        for (let o = 0; o < outSize; o++) {
          const e = new Float64Array(outSize);
          e[o] = 1;
          const et = new Tensor(native().fromHost(e, outShape, 'float64', y.device));
          y.backward(et, { retainGraph: true });
          et.dispose();
          out.push(floats.map(({ t }) => {
            const g = t.grad_ ? Float64Array.from(t.grad_.data()) : new Float64Array(t.size);
            t.clearGrad();
            return g;
          }));
        }
        return out;
      });
      floats.forEach(({ i }, k) => {
        const x0 = original[k];
        for (let j = 0; j < x0.length; j++) {
          const xp = Float64Array.from(x0);
          xp[j] = x0[j] + eps;
          setData(k, xp);
          const yp = tidy(() => noGrad(() => Float64Array.from(evaluate().data())));
          xp[j] = x0[j] - eps;
          setData(k, xp);
          const ym = tidy(() => noGrad(() => Float64Array.from(evaluate().data())));
          for (let o = 0; o < outSize; o++) {
            compare({ kind: 'jacobian', input: i, index: j, output: o, analytic: rows[o][k][j], numeric: (yp[o] - ym[o]) / (2 * eps) });
          }
        }
        setData(k, x0);
      });
    }

    mismatches.sort((a, b) => Math.abs(b.analytic - b.numeric) - Math.abs(a.analytic - a.numeric) || 0);
    const report: GradcheckReport = {
      ok: mismatches.length === 0 && checked > 0,
      checked,
      maxAbsError: maxAbs,
      maxRelError: maxRel,
      fullJacobian: full,
      mismatches: mismatches.slice(0, 10),
    };
    if (!report.ok && raise) {
      const lines = report.mismatches
        .slice(0, 5)
        .map((m) => `  ${m.kind} input ${m.input} [${m.index}]${m.output !== undefined ? ` output [${m.output}]` : ''}: analytic ${m.analytic}, numeric ${m.numeric}`);
      throw new OnelipError('ERR_GRADCHECK',
        `gradcheck: ${mismatches.length} of ${checked} comparisons exceed atol ${atol} + rtol ${rtol}·|numeric| (max abs error ${maxAbs}):\n${lines.join('\n')}`);
    }
    return report;
  } finally {
    floats.forEach(({ t }, k) => {
      if (!t.isDisposed) noGrad(() => setData(k, original[k]));
    });
    inputs.forEach((t, i) => {
      if (t.grad_ !== null && t.grad_ !== saved[i].grad) t.grad_.dispose();
      t.grad_ = saved[i].grad;
      t.requiresGrad = saved[i].requiresGrad;
    });
  }
}

