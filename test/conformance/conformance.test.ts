/**
 * Backend conformance: every op registered for a device runs there on fresh random inputs and is
 * compared with a plain float64 reference. Under `npm test` the `cuda` device is the emulated build
 * (the real CUDA kernels run on the CPU); on a GPU host it is the real device.
 */
import * as ol from '../../lib';
import { runOp } from '../../lib/ops/run';
import { CASES, Expected, Rng, Variant } from './cases';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`conformance seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);

const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

const DEFAULT_TOL: Record<string, { rtol: number; atol: number }> = {
  float32: { rtol: 2e-6, atol: 1e-6 },
  float64: { rtol: 1e-12, atol: 1e-12 },
  int32: { rtol: 0, atol: 0 },
};

function compare(out: ol.Tensor, exp: Expected): string | null {
  if (JSON.stringify(out.shape) !== JSON.stringify(exp.shape)) return `shape [${out.shape}] != expected [${exp.shape}]`;
  if (out.dtype !== exp.dtype) return `dtype ${out.dtype} != expected ${exp.dtype}`;
  const tol = { ...DEFAULT_TOL[exp.dtype], ...(exp.rtol !== undefined ? { rtol: exp.rtol } : {}), ...(exp.atol !== undefined ? { atol: exp.atol } : {}) };
  const got = out.data();
  if (got.length !== exp.data.length) return `length ${got.length} != ${exp.data.length}`;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const r = exp.data[i];
    const g = got[i];
    if (Number.isNaN(r) || Number.isNaN(g)) {
      if (Number.isNaN(r) !== Number.isNaN(g)) return `element ${i}: got ${g}, expected ${r}`;
      continue;
    }
    const err = Math.abs(g - r) - (tol.atol + tol.rtol * Math.abs(r));
    if (err > worstErr) {
      worstErr = err;
      worst = i;
    }
  }
  if (worst >= 0) {
    return `element ${worst}: got ${got[worst]}, expected ${exp.data[worst]} (|diff| ${Math.abs(got[worst] - exp.data[worst])} > atol ${tol.atol} + rtol ${tol.rtol}·|ref|)`;
  }
  return null;
}

function runVariant(op: string, device: 'cpu' | 'cuda', v: Variant): void {
  ol.tidy(() => {
    const inputs = v.inputs.map((x) => ol.tensor(x.data, { shape: x.shape, dtype: x.dtype, device }));
    const outs = runOp(op, inputs, v.attrs, device);
    expect(outs.length).toBe(v.expected.length);
    outs.forEach((o, i) => {
      expect(o.device).toBe(device);
      const msg = compare(o, v.expected[i]);
      if (msg) throw new Error(`${op} on ${device}, ${v.name}: output ${i}: ${msg}`);
    });
    // inputs are read-only unless the variant says the op writes them in place
    const written = new Map(v.inPlace ?? []);
    inputs.forEach((t, i) => {
      const exp: Expected = written.get(i) ?? { data: v.inputs[i].data, shape: v.inputs[i].shape, dtype: v.inputs[i].dtype, rtol: 0, atol: 0 };
      const msg = compare(t, exp);
      if (msg) throw new Error(`${op} on ${device}, ${v.name}: input ${i} after the call${written.has(i) ? ' (written in place)' : ' (must be unchanged)'}: ${msg}`);
    });
  });
}

describe('conformance', () => {
  // Under `npm test` (emulated build) and on GPU hosts the cuda device must be there: an old driver
  // would otherwise turn into a silent CPU-only run. Only an explicit ONELIP_ADDON=cpu run skips it.
  const cpuOnlyRun = process.env.ONELIP_ADDON === 'cpu';
  test('the cuda device is present (emulated here, real on a GPU host)', () => {
    if (!cpuOnlyRun) expect(info.backends.cuda.available).toBe(true);
  });

  for (const device of devices) {
    test(`every op registered on ${device} has a conformance case`, () => {
      const missing = info.ops[device].filter((op) => !(op in CASES));
      expect(missing).toEqual([]);
      expect(info.ops[device].length).toBeGreaterThan(0);
    });
  }

  test('cpu and cuda register the same ops', () => {
    if (!cpuOnlyRun) expect(info.ops.cuda).toEqual(info.ops.cpu);
  });

  for (const op of Object.keys(CASES).sort()) {
    for (const device of devices) {
      test(`${op} on ${device}`, () => {
        expect(info.ops[device]).toContain(op);
        const rng = new Rng(seed ^ hash(op));
        for (const v of CASES[op](rng)) runVariant(op, device, v);
      });
    }
  }

  test('rand and randn give bit-identical numbers on cpu and cuda for the same seed', () => {
    if (!devices.includes('cuda')) return;
    for (const dtype of ['float32', 'float64'] as const) {
      ol.tidy(() => {
        const s = seed % 100000;
        const a = ol.rand([3, 333], { seed: s, dtype, device: 'cpu' }).data();
        const b = ol.rand([3, 333], { seed: s, dtype, device: 'cuda' }).data();
        const c = ol.randn([3, 333], { seed: s + 1, dtype, device: 'cpu' }).data();
        const d = ol.randn([3, 333], { seed: s + 1, dtype, device: 'cuda' }).data();
        if (info.backends.cuda.emulated) {
          expect(Array.from(b)).toEqual(Array.from(a));
          expect(Array.from(d)).toEqual(Array.from(c));
        } else {
          for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(2e-7 * Math.abs(a[i]));
          for (let i = 0; i < c.length; i++) expect(Math.abs(c[i] - d[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(c[i])));
        }
      });
    }
  });

  test('rand / randn statistics', () => {
    ol.tidy(() => {
      for (const device of devices) {
        const u = ol.rand([20000], { seed: seed % 1000, device }).data();
        const n = ol.randn([20000], { seed: seed % 1000, device }).data();
        const m = (a: ArrayLike<number>) => Array.from(a).reduce((x, y) => x + y, 0) / a.length;
        const v = (a: ArrayLike<number>, mu: number) => Array.from(a).reduce((x, y) => x + (y - mu) ** 2, 0) / a.length;
        expect(Math.abs(m(u) - 0.5)).toBeLessThan(0.01);
        expect(Math.abs(v(u, m(u)) - 1 / 12)).toBeLessThan(0.005);
        expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
        expect(Math.max(...u)).toBeLessThan(1);
        expect(Math.abs(m(n))).toBeLessThan(0.03);
        expect(Math.abs(Math.sqrt(v(n, m(n))) - 1)).toBeLessThan(0.03);
      }
    });
  });
});

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
