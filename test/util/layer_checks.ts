/**
 * Shared checks of the SLL / AOL layer tests (test/sll.test.ts, test/aol.test.ts): module outputs and
 * gradients against a plain float64 reference of the formula (test/conformance/cases/sll.ts) with
 * central finite differences of ⟨r, y⟩ for the gradients, a brief training run, eval-cache checks.
 */
import * as ol from '../../lib';

export const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
let st = seed >>> 0;
/** Seeded uniform in [−1, 1), kept away from 0. */
export function rnd(): number {
  let t = (st = (st + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  return 2 * u - 1 + (u < 0.5 ? -0.05 : 0.05);
}
export const randArray = (n: number, s = 1): Float64Array => Float64Array.from({ length: n }, () => s * rnd());
export const devices: ol.Device[] = ol.info().backends.cuda.available ? ['cpu', 'cuda'] : ['cpu'];
export const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
};
export const maxAbs = (a: ArrayLike<number>): number => maxAbsDiff(a, new Float64Array(a.length));

type Ref = (x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, q: ArrayLike<number>) => Float64Array;

/**
 * Checks module.forward(x) and the gradients of ⟨r, y⟩ in x and in each of `params` (weight, bias, q,
 * in the order of `ref`'s arguments) against `ref` and its central finite differences.
 */
export function checkAgainstReference(module: ol.nn.Module, params: ol.Tensor[], ref: Ref, xShape: number[], device: ol.Device): void {
  const n = xShape.reduce((a, b) => a * b, 1);
  const xh = randArray(n);
  const ph = params.map((p) => Float64Array.from(p.data()));
  const yRef = ref(xh, ph[0], ph[1], ph[2]);
  const r = randArray(yRef.length);
  const x = ol.tensor(xh, { shape: xShape, dtype: 'float64', device, requiresGrad: true });
  module.zeroGrad();
  const y = module.forward(x);
  expect(maxAbsDiff(y.data(), yRef)).toBeLessThan(1e-11 * Math.max(1, maxAbs(yRef)));
  ol.ops.sum(ol.ops.mul(y, ol.tensor(r, { shape: y.shape, dtype: 'float64', device }))).backward();
  const all = [xh, ...ph];
  const grads = [x.grad!, ...params.map((p) => p.grad!)].map((g) => Float64Array.from(g.data()));
  const h = 1e-6;
  all.forEach((arr, k) => {
    const fd = new Float64Array(arr.length);
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      const args = all.map((a) => Float64Array.from(a));
      args[k][i] = v + h;
      const yp = ref(args[0], args[1], args[2], args[3]);
      args[k][i] = v - h;
      const ym = ref(args[0], args[1], args[2], args[3]);
      let s = 0;
      for (let e = 0; e < yp.length; e++) s += (yp[e] - ym[e]) * r[e];
      fd[i] = s / (2 * h);
    }
    const scale = Math.max(1, maxAbs(fd));
    if (!(maxAbsDiff(grads[k], fd) < 1e-6 * scale))
      throw new Error(`gradient of input ${k} (0 = x) differs from finite differences by ${maxAbsDiff(grads[k], fd)} (scale ${scale})`);
  });
  x.dispose();
  y.dispose();
}

/**
 * A few Adam steps on a loss that rewards a large output (so the parameters move towards the
 * Lipschitz limit): maximise ‖f(x) − f(x')‖ for random pairs.
 */
export function briefTraining(module: ol.nn.Module, xShape: number[], device: ol.Device, steps = 15): void {
  const opt = new ol.optim.Adam(module.parameters(), { lr: 0.05 });
  const n = xShape.reduce((a, b) => a * b, 1);
  module.train();
  for (let s = 0; s < steps; s++) {
    ol.tidy(() => {
      opt.zeroGrad();
      const a = ol.tensor(randArray(n), { shape: xShape, dtype: 'float64', device });
      const b = ol.tensor(randArray(n), { shape: xShape, dtype: 'float64', device });
      const d = ol.ops.sub(module.forward(a), module.forward(b));
      ol.ops.neg(ol.ops.sum(ol.ops.mul(d, d))).backward();
      opt.step();
    });
  }
  opt.zeroGrad();
}

/**
 * Eval cache: a cached forward equals a training-mode forward; after an optimizer step and after
 * loadStateDict the eval forward follows the new parameters (compared with train mode again).
 */
export function checkEvalCache(module: ol.nn.Module & { evalCacheHeld: boolean }, xShape: number[], device: ol.Device): void {
  const n = xShape.reduce((a, b) => a * b, 1);
  const x = ol.tensor(randArray(n), { shape: xShape, dtype: 'float64', device });
  const trainOut = (): Float64Array => {
    module.train();
    const y = ol.noGrad(() => module.forward(x));
    const d = Float64Array.from(y.data());
    y.dispose();
    return d;
  };
  const evalOut = (): Float64Array => {
    module.eval();
    const y = ol.noGrad(() => module.forward(x));
    const d = Float64Array.from(y.data());
    y.dispose();
    return d;
  };
  const y0 = trainOut();
  expect(module.evalCacheHeld).toBe(false);
  expect(maxAbsDiff(evalOut(), y0)).toBeLessThan(1e-13 * Math.max(1, maxAbs(y0)));
  expect(module.evalCacheHeld).toBe(true);
  expect(maxAbsDiff(evalOut(), y0)).toBeLessThan(1e-13 * Math.max(1, maxAbs(y0)));  // from the cache
  // an optimizer step changes the parameters
  const opt = new ol.optim.SGD(module.parameters(), { lr: 0.2 });
  module.train();
  ol.tidy(() => {
    const y = module.forward(ol.tensor(randArray(n), { shape: xShape, dtype: 'float64', device }));
    ol.ops.sum(ol.ops.mul(y, y)).backward();
  });
  opt.step();
  module.zeroGrad();
  const y1 = trainOut();
  expect(maxAbsDiff(y1, y0)).toBeGreaterThan(1e-6);
  expect(maxAbsDiff(evalOut(), y1)).toBeLessThan(1e-13 * Math.max(1, maxAbs(y1)));
  // loadStateDict with other values
  const sd = module.stateDict();
  const other: Record<string, ol.Tensor> = {};
  for (const [k, t] of Object.entries(sd)) other[k] = ol.tensor(randArray(t.size, 0.5), { shape: t.shape, dtype: 'float64', device });
  module.loadStateDict(other);
  const y2 = trainOut();
  expect(maxAbsDiff(y2, y1)).toBeGreaterThan(1e-6);
  expect(maxAbsDiff(evalOut(), y2)).toBeLessThan(1e-13 * Math.max(1, maxAbs(y2)));
  for (const t of Object.values(other)) t.dispose();
  x.dispose();
}
