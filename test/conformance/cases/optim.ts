/**
 * Conformance cases of the in-place optimizer ops sgd_step and adam_step: no outputs; the parameter and
 * the state inputs after the call are compared with plain float64 transcriptions of PyTorch's
 * torch.optim.SGD / Adam / AdamW update rules (the gradient must be unchanged).
 */
import { Builder, DType, Expected, FLOATS, HostInput, input, Rng, Variant } from './common';

const tol = (dtype: DType) => (dtype === 'float32' ? { rtol: 1e-5, atol: 1e-6 } : { rtol: 1e-12, atol: 1e-13 });
const out = (data: number[], x: HostInput): Expected => ({ data, shape: x.shape, dtype: x.dtype, ...tol(x.dtype) });

interface SgdCfg {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  initBuffer?: boolean;
}

/** torch.optim.SGD, one parameter, one step (PyTorch's _single_tensor_sgd). */
function refSgd(p: number[], g: number[], buf: number[] | null, c: SgdCfg): { p: number[]; buf: number[] | null } {
  const mom = c.momentum ?? 0, damp = c.dampening ?? 0, wd = c.weightDecay ?? 0;
  const np = [...p];
  const nb = buf ? [...buf] : null;
  for (let i = 0; i < p.length; i++) {
    let d = g[i];
    if (wd !== 0) d = d + wd * p[i];
    if (mom !== 0 && nb) {
      nb[i] = c.initBuffer ? d : mom * nb[i] + (1 - damp) * d;
      d = c.nesterov ? d + mom * nb[i] : nb[i];
    }
    np[i] = p[i] - c.lr * d;
  }
  return { p: np, buf: nb };
}

interface AdamCfg {
  lr: number;
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  decoupled?: boolean;
}

/** torch.optim.Adam / AdamW (decoupled), one parameter, one step t = c.step. */
function refAdam(p: number[], g: number[], m: number[], v: number[], vmax: number[] | null, c: AdamCfg) {
  const b1 = c.beta1 ?? 0.9, b2 = c.beta2 ?? 0.999, eps = c.eps ?? 1e-8, wd = c.weightDecay ?? 0, t = c.step;
  const r = { p: [...p], m: [...m], v: [...v], vmax: vmax ? [...vmax] : null };
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    let pi = p[i];
    if (c.decoupled) pi = pi * (1 - c.lr * wd);
    else gi = gi + wd * pi;
    r.m[i] = b1 * m[i] + (1 - b1) * gi;
    r.v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    let s = r.v[i];
    if (r.vmax) s = r.vmax[i] = Math.max(vmax![i], r.v[i]);
    const denom = Math.sqrt(s) / Math.sqrt(1 - b2 ** t) + eps;
    r.p[i] = pi - (c.lr / (1 - b1 ** t)) * (r.m[i] / denom);
  }
  return r;
}

const SHAPES: number[][] = [[7], [3, 5, 4], [0], [2, 1, 3, 1]];
/** More than one thread-pool chunk (32768 elements) and a partial last CUDA block. */
const LARGE = [33001];

const SGD_CFGS: SgdCfg[] = [
  { lr: 0.1 },
  { lr: 0.05, weightDecay: 5e-4 },
  { lr: 0.1, momentum: 0.9, initBuffer: true },
  { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
  { lr: 0.02, momentum: 0.5, dampening: 0.3, weightDecay: 0.01 },
  { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 },
  { lr: 0.1, momentum: 0.9, nesterov: true, initBuffer: true },
];

const sgdCase: Builder = (rng: Rng) =>
  FLOATS.flatMap((dtype) =>
    SGD_CFGS.flatMap((cfg, ci) => {
      const shapes = ci === 3 || ci === 5 ? [...SHAPES, LARGE] : SHAPES;
      return shapes.map((shape): Variant => {
        const p = input(rng, shape, dtype);
        const g = input(rng, shape, dtype);
        const hasBuf = (cfg.momentum ?? 0) > 0;
        const b = hasBuf ? input(rng, shape, dtype) : null;
        const r = refSgd(p.data, g.data, b ? b.data : null, cfg);
        const inPlace: [number, Expected][] = [[0, out(r.p, p)]];
        if (b) inPlace.push([2, out(r.buf!, b)]);
        return { name: `${dtype} [${shape}] ${JSON.stringify(cfg)}`, inputs: b ? [p, g, b] : [p, g], attrs: { ...cfg }, expected: [], inPlace };
      });
    }),
  );

const ADAM_CFGS: (AdamCfg & { amsgrad?: boolean })[] = [
  { lr: 1e-3, step: 1 },
  { lr: 0.01, step: 4, beta1: 0.5, beta2: 0.9 },  // the SLL recipe; β1 = 0.5 takes lerp's other branch
  { lr: 0.01, step: 3, weightDecay: 0.01 },
  { lr: 0.01, step: 10, weightDecay: 0.1, decoupled: true },
  { lr: 0.005, step: 7, amsgrad: true },
  { lr: 0.02, step: 2, amsgrad: true, weightDecay: 0.05, decoupled: true, eps: 1e-6, beta1: 0.8, beta2: 0.95 },
];

const adamCase: Builder = (rng: Rng) => [
  ...adamRandom(rng),
  // NaN propagation (torch.maximum): NaN in the gradient or in the running maximum reaches the parameter
  ...FLOATS.map((dtype): Variant => {
    const shape = [12];
    const [p, g, m, v, vmax] = [0, 1, 2, 3, 4].map((k) => input(rng, shape, dtype, k >= 3 ? 0.01 : -1, 1));
    g.data[1] = NaN;
    vmax.data[4] = NaN;
    vmax.data[7] = NaN;
    const cfg = { lr: 0.01, step: 3 };
    const r = refAdam(p.data, g.data, m.data, v.data, vmax.data, cfg);
    const inPlace: [number, Expected][] = [[0, out(r.p, p)], [2, out(r.m, m)], [3, out(r.v, v)], [4, out(r.vmax!, vmax)]];
    return { name: `${dtype} amsgrad with NaN in grad and max_exp_avg_sq`, inputs: [p, g, m, v, vmax], attrs: cfg, expected: [], inPlace };
  }),
];

const adamRandom: Builder = (rng: Rng) =>
  FLOATS.flatMap((dtype) =>
    ADAM_CFGS.flatMap((cfg, ci) => {
      const shapes = ci === 1 || ci === 5 ? [...SHAPES, LARGE] : SHAPES;
      return shapes.map((shape): Variant => {
        const { amsgrad, ...attrs } = cfg;
        const p = input(rng, shape, dtype);
        const g = input(rng, shape, dtype);
        const m = input(rng, shape, dtype, -0.5, 0.5);
        const v = input(rng, shape, dtype, 0.01, 1);
        const vmax = amsgrad ? input(rng, shape, dtype, 0.01, 1) : null;  // above v in about half the elements
        const r = refAdam(p.data, g.data, m.data, v.data, vmax ? vmax.data : null, cfg);
        const inPlace: [number, Expected][] = [[0, out(r.p, p)], [2, out(r.m, m)], [3, out(r.v, v)]];
        if (vmax) inPlace.push([4, out(r.vmax!, vmax)]);
        return {
          name: `${dtype} [${shape}] ${JSON.stringify(cfg)}`,
          inputs: vmax ? [p, g, m, v, vmax] : [p, g, m, v],
          attrs,
          expected: [],
          inPlace,
        };
      });
    }),
  );

export const CASES: Record<string, Builder> = { sgd_step: sgdCase, adam_step: adamCase };
