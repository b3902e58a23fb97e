/**
 * AOL layers (AOLDense, AOLConv2d; SPEC.md A.3) through the public API, on cpu and cuda, float64:
 * outputs and gradients (x, weight, bias, q with learnQ) against a plain loop implementation of the
 * formula with finite differences; gradcheck; ‖P·diag(D)‖₂ ≤ 1 measured independently
 * (test/util/lipschitz.ts) on random and briefly trained parameters; the eval cache of D; state
 * dicts (1LLC names); bad input.
 */
import * as ol from '../lib';
import { OnelipError } from '../lib/errors';
import { aolConvRef, aolDenseRef } from './conformance/cases/sll';
import { briefTraining, checkAgainstReference, checkEvalCache, devices, randArray, seed } from './util/layer_checks';
import { lipschitzEstimate } from './util/lipschitz';

// eslint-disable-next-line no-console
console.log(`aol seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);

/** Random values into every parameter (the AOL init is a Dirac kernel / zero bias: too special for a test). */
function randomize(m: ol.nn.Module): void {
  for (const p of m.parameters()) p.assign(ol.tensor(randArray(p.size), { shape: p.shape, dtype: p.dtype, device: p.device }));
}

describe.each(devices)('AOL layers on %s', (device) => {
  const opts = { dtype: 'float64' as const, device, seed: seed % 100000, learnQ: true };

  test('AOLDense: output and gradients of x, weight, bias, q match the plain formula', () => {
    const [N, d, n] = [3, 5, 4];
    const layer = new ol.nn.AOLDense(d, n, opts);
    randomize(layer);
    checkAgainstReference(layer, [layer.weight, layer.bias, layer.q!],
      (x, w, b, q) => aolDenseRef(x, w, b, q, { N, F: d, m: n })[0], [N, d], device);
    layer.dispose();
  });

  test.each([3, 5, 1])('AOLConv2d k=%i: output and gradients match the plain formula', (k) => {
    const [N, C, O, H, W] = [2, 3, 2, 4, 5];
    const layer = new ol.nn.AOLConv2d(C, O, { kernelSize: k, ...opts });
    randomize(layer);
    checkAgainstReference(layer, [layer.weight, layer.bias, layer.q!],
      (x, w, b, q) => aolConvRef(x, w, b, q, { N, F: C, m: O, H, W, k })[0], [N, C, H, W], device);
    layer.dispose();
  });

  test('gradcheck of both layers', () => {
    const d = new ol.nn.AOLDense(4, 3, opts);
    randomize(d);
    const x = ol.tensor(randArray(8), { shape: [2, 4], dtype: 'float64', device });
    expect(ol.gradcheck((xx) => d.forward(xx), [x, ...d.parameters()]).ok).toBe(true);
    const c = new ol.nn.AOLConv2d(2, 3, { kernelSize: 3, ...opts });
    randomize(c);
    const xc = ol.tensor(randArray(2 * 3 * 3), { shape: [1, 2, 3, 3], dtype: 'float64', device });
    expect(ol.gradcheck((xx) => c.forward(xx), [xc, ...c.parameters()]).ok).toBe(true);
    for (const t of [x, xc]) t.dispose();
    d.dispose();
    c.dispose();
  });

  test('1-Lipschitz (measured independently) on random and on briefly trained parameters', () => {
    const d = new ol.nn.AOLDense(6, 5, opts);
    const c = new ol.nn.AOLConv2d(2, 3, { kernelSize: 3, ...opts });
    const cases: [ol.nn.Module, number[]][] = [[d, [1, 6]], [c, [1, 2, 5, 5]]];
    for (const [mod, shape] of cases) {
      randomize(mod);
      for (const phase of ['random', 'trained']) {
        if (phase === 'trained') briefTraining(mod, [4, ...shape.slice(1)], device);
        mod.eval();
        const rep = lipschitzEstimate((x) => mod.forward(x), shape, { device, seed: seed % 1000, iters: 20, points: 3, pairs: 6 });
        if (!(rep.estimate <= 1 + 1e-4)) throw new Error(`${mod.constructor.name} (${phase}): measured Lipschitz constant ${rep.estimate}`);
        expect(rep.estimate).toBeGreaterThan(0.3);
      }
      expect((mod as unknown as { lipschitzBound(): number }).lipschitzBound()).toBe(1);
    }
    d.dispose();
    c.dispose();
  });

  test('the Dirac init of AOLConv2d is the identity on the shared channels', () => {
    const c = new ol.nn.AOLConv2d(3, 3, { kernelSize: 3, dtype: 'float64', device });
    const x = ol.tensor(randArray(2 * 3 * 4 * 4), { shape: [2, 3, 4, 4], dtype: 'float64', device });
    const y = ol.noGrad(() => c.forward(x));
    const xd = x.data(), yd = y.data();
    // D = (1 + 1e-6)^{-1/2} for a Dirac kernel
    const s = 1 / Math.sqrt(1 + 1e-6);
    for (let i = 0; i < xd.length; i++) expect(Math.abs(yd[i] - s * xd[i])).toBeLessThan(1e-12);
    c.dispose();
  });

  test('eval cache of D: reused, invalidated by an optimizer step and by loadStateDict', () => {
    const d = new ol.nn.AOLDense(5, 4, opts);
    randomize(d);
    checkEvalCache(d, [3, 5], device);
    const c = new ol.nn.AOLConv2d(2, 3, { kernelSize: 3, ...opts });
    randomize(c);
    checkEvalCache(c, [2, 2, 4, 4], device);
    d.dispose();
    c.dispose();
  });

  test('state dicts: 1LLC names and shapes, round trip gives the same function', () => {
    const c = new ol.nn.AOLConv2d(2, 3, { kernelSize: 5, dtype: 'float64', device });
    expect(Object.fromEntries(Object.entries(c.stateDict()).map(([k, t]) => [k, t.shape]))).toEqual({
      'parametrizations.weight.original': [3, 2, 5, 5], bias: [3],
    });
    randomize(c);
    const c2 = new ol.nn.AOLConv2d(2, 3, { kernelSize: 5, dtype: 'float64', device });
    c2.loadStateDict(c.stateDict());
    const x = ol.tensor(randArray(2 * 16), { shape: [1, 2, 4, 4], dtype: 'float64', device });
    expect(Array.from(ol.noGrad(() => c2.forward(x)).data())).toEqual(Array.from(ol.noGrad(() => c.forward(x)).data()));
    const d = new ol.nn.AOLDense(5, 4, { dtype: 'float64', device });
    expect(Object.fromEntries(Object.entries(d.stateDict()).map(([k, t]) => [k, t.shape]))).toEqual({ weight: [4, 5], bias: [4] });
    const dq = new ol.nn.AOLDense(5, 4, { dtype: 'float64', device, learnQ: true });
    expect(Object.fromEntries(Object.entries(dq.stateDict()).map(([k, t]) => [k, t.shape]))).toEqual({ weight: [4, 5], bias: [4], q: [5] });
    dq.dispose();
    for (const m of [c, c2, d]) m.dispose();
    x.dispose();
  });

  test('bad input: NaN parameters, even kernel sizes, channel mismatches', () => {
    const expectErr = (fn: () => unknown, code: string, words: string[]) => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(OnelipError);
      expect((err as OnelipError).code).toBe(code);
      for (const w of words) expect((err as Error).message).toContain(w);
    };
    const d = new ol.nn.AOLDense(3, 2, opts);
    d.weight.assign(ol.tensor([1, 2, NaN, 0, 1, 1], { shape: [2, 3], dtype: 'float64', device }));
    expectErr(() => d.forward(ol.tensor(randArray(6), { shape: [2, 3], dtype: 'float64', device })), 'ERR_ARGUMENT', ['aol_dense', 'P', 'non-finite']);
    expectErr(() => new ol.nn.AOLConv2d(3, 2, { kernelSize: 2 }), 'ERR_ARGUMENT', ['AOLConv2d', 'kernelSize', 'odd']);
    const c = new ol.nn.AOLConv2d(3, 2, { kernelSize: 3, dtype: 'float64', device });
    expectErr(() => c.forward(ol.tensor(randArray(32), { shape: [1, 2, 4, 4], dtype: 'float64', device })), 'ERR_SHAPE', ['AOLConv2d', 'x']);
    d.dispose();
    c.dispose();
  });
});
