/**
 * An independent measurement of a function's Lipschitz constant (DESIGN.md §6), shared by the property
 * tests of the 1-Lipschitz layers. It knows nothing of how a layer computes its σ, T or series: it only
 * evaluates `f` (in float64) and asks autograd for vector–Jacobian products.
 *
 * - `jacobianNorm(f, x)`: ‖J_f(x)‖₂ by power iteration on JᵀJ. J·v comes from central differences of f
 *   (exact for piecewise-linear f when no kink lies within ±h·v of x, O(h²) otherwise), Jᵀ·w from
 *   `backward()`. Power iteration approaches ‖J‖₂ from below, so the result is (up to the difference
 *   error) a lower bound: a value above 1 + tol proves the layer is not 1-Lipschitz there.
 * - `pairRatio(f, x, y)`: ‖f(x) − f(y)‖ / ‖x − y‖, a lower bound of the global constant at any distance.
 * - `lipschitzEstimate(f, shape, opts)`: the largest of both over seeded random points and pairs
 *   (near pairs along the measured top singular direction and far pairs).
 *
 * `f` must be a fixed function: put modules in eval() mode (a training-mode CPL/SOC forward moves its
 * power-iteration state) and give it float64 parameters.
 */
import * as ol from '../../lib';

export interface LipschitzOptions {
  /** Device of the probe inputs (and of f's parameters). Default 'cpu'. */
  device?: ol.Device;
  /** Power iterations per point. Default 30. */
  iters?: number;
  /** Random points x at which ‖J(x)‖₂ is measured. Default 4. */
  points?: number;
  /** Random far pairs (x, y). Default 8. */
  pairs?: number;
  /** Central-difference step. Default 1e-6. */
  h?: number;
  /** Seed of the probes. Default 1. */
  seed?: number;
  /** Scale of the random points (standard deviation). Default 1. */
  scale?: number;
}

export interface LipschitzReport {
  /** max over points and pairs: the measured lower bound of the Lipschitz constant. */
  estimate: number;
  /** ‖J(x)‖₂ at each point. */
  jacobianNorms: number[];
  /** ‖f(x) − f(y)‖ / ‖x − y‖ of each pair. */
  pairRatios: number[];
}

type F = (x: ol.Tensor) => ol.Tensor;

const norm = (a: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
};

function evalHost(f: F, x: Float64Array, shape: number[], device: ol.Device): Float64Array {
  return ol.tidy(() => ol.noGrad(() => Float64Array.from(f(ol.tensor(x, { shape, dtype: 'float64', device })).data())));
}

/** J(x)·v by central differences. */
function jvp(f: F, x: Float64Array, v: Float64Array, shape: number[], device: ol.Device, h: number): Float64Array {
  const xp = x.map((xi, i) => xi + h * v[i]);
  const xm = x.map((xi, i) => xi - h * v[i]);
  const yp = evalHost(f, xp, shape, device);
  const ym = evalHost(f, xm, shape, device);
  return yp.map((a, i) => (a - ym[i]) / (2 * h));
}

/** J(x)ᵀ·w through backward(). */
function vjp(f: F, x: Float64Array, w: Float64Array, shape: number[], device: ol.Device): Float64Array {
  return ol.tidy(() => {
    const xt = ol.tensor(x, { shape, dtype: 'float64', device, requiresGrad: true });
    const y = f(xt);
    y.backward(ol.tensor(w, { shape: y.shape, dtype: 'float64', device }));
    const g = Float64Array.from(xt.grad!.data());
    xt.dispose();
    return g;
  });
}

/** ‖J_f(x)‖₂ by `iters` power iterations on JᵀJ from a seeded random direction; also the top right singular vector. */
export function jacobianNorm(f: F, x: Float64Array, shape: number[], opts: LipschitzOptions = {}): { norm: number; direction: Float64Array } {
  const device = opts.device ?? 'cpu';
  const h = opts.h ?? 1e-6;
  // a unit start: the first iterate's ‖J·v‖ counts as an estimate too
  const v0 = randomVector(x.length, (opts.seed ?? 1) * 7 + 3);
  const n0 = norm(v0);
  let v = v0.map((a) => a / n0);
  let best = 0;
  let dir = v;
  for (let k = 0; k < (opts.iters ?? 30); k++) {
    const u = jvp(f, x, v, shape, device, h);
    const s = norm(u);
    if (s > best) {
      best = s;
      dir = v;
    }
    if (s === 0) break;
    const g = vjp(f, x, u.map((a) => a / s), shape, device);
    const gn = norm(g);
    if (gn === 0) break;
    v = g.map((a) => a / gn);
  }
  return { norm: best, direction: dir };
}

/** ‖f(x) − f(y)‖ / ‖x − y‖. */
export function pairRatio(f: F, x: Float64Array, y: Float64Array, shape: number[], device: ol.Device = 'cpu'): number {
  const fx = evalHost(f, x, shape, device);
  const fy = evalHost(f, y, shape, device);
  return norm(fx.map((a, i) => a - fy[i])) / norm(x.map((a, i) => a - y[i]));
}

/** The measured Lipschitz constant of f on inputs of `shape` (see the top of the file). */
export function lipschitzEstimate(f: F, shape: number[], opts: LipschitzOptions = {}): LipschitzReport {
  const device = opts.device ?? 'cpu';
  const n = shape.reduce((a, b) => a * b, 1);
  const seed = opts.seed ?? 1;
  const scale = opts.scale ?? 1;
  const jacobianNorms: number[] = [];
  const pairRatios: number[] = [];
  for (let p = 0; p < (opts.points ?? 4); p++) {
    const x = randomVector(n, seed * 1009 + p, scale);
    const { norm: s, direction } = jacobianNorm(f, x, shape, { ...opts, seed: seed * 31 + p });
    jacobianNorms.push(s);
    // A finite step along the top direction: the slope over a segment, not only at a point.
    const step = 1e-2 * scale;
    pairRatios.push(pairRatio(f, x, x.map((a, i) => a + step * direction[i]), shape, device));
  }
  for (let p = 0; p < (opts.pairs ?? 8); p++) {
    const x = randomVector(n, seed * 2003 + p, scale);
    const y = randomVector(n, seed * 3001 + p, scale * (p % 2 === 0 ? 1 : 0.1)).map((a, i) => a + (p % 2 === 0 ? 0 : x[i]));
    pairRatios.push(pairRatio(f, x, y, shape, device));
  }
  return { estimate: Math.max(...jacobianNorms, ...pairRatios), jacobianNorms, pairRatios };
}

/** Seeded standard normal vector (xorshift + Box–Muller), scaled. */
export function randomVector(n: number, seed: number, scale = 1): Float64Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}
