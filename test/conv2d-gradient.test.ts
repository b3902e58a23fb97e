/**
 * The gradient-table entries of conv2d and conv_transpose2d (lib/ops/conv2d.ts), called directly as
 * the tape will call them: each returned gradient must match the central finite difference of
 * L(x, w, b) = ⟨op(x, w, b), g⟩ computed with the op itself in float64, on fresh seeded inputs.
 * (The op is linear in each argument, so the differences are exact up to rounding.)
 */
import * as ol from '../lib';
import { gradientOf, GradContext } from '../lib/autograd/table';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`conv2d-gradient seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);

type OpName = 'conv2d' | 'conv_transpose2d';

function apply(op: OpName, x: ol.Tensor, w: ol.Tensor, b: ol.Tensor, attrs: Record<string, unknown>): ol.Tensor {
  return op === 'conv2d' ? ol.ops.conv2d(x, w, { ...attrs, bias: b }) : ol.ops.convTranspose2d(x, w, { ...attrs, bias: b });
}

const dot = (a: ArrayLike<number>, c: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * c[i];
  return s;
};

/** ∂⟨op(...), g⟩/∂(argument `which`), element by element, by central differences. */
function fdGrad(op: OpName, args: ol.Tensor[], which: number, g: Float64Array, attrs: Record<string, unknown>): Float64Array {
  const base = Float64Array.from(args[which].data() as Float64Array);
  const out = new Float64Array(base.length);
  const h = 2 ** -8;
  const loss = (v: Float64Array): number =>
    ol.tidy(() => {
      const a = args.slice();
      a[which] = ol.tensor(v, { shape: args[which].shape, dtype: 'float64', device: args[0].device });
      return dot(apply(op, a[0], a[1], a[2], attrs).data(), g);
    });
  for (let i = 0; i < base.length; i++) {
    const v = base[i];
    base[i] = v + h;
    const lp = loss(base);
    base[i] = v - h;
    const lm = loss(base);
    base[i] = v;
    out[i] = (lp - lm) / (2 * h);
  }
  return out;
}

const CASES: { op: OpName; x: number[]; w: number[]; attrs: Record<string, unknown> }[] = [
  { op: 'conv2d', x: [2, 3, 5, 6], w: [4, 3, 3, 3], attrs: {} },
  { op: 'conv2d', x: [1, 2, 7, 5], w: [3, 2, 3, 1], attrs: { stride: 2, padding: [0, 1] } },
  { op: 'conv_transpose2d', x: [2, 3, 3, 4], w: [3, 2, 3, 3], attrs: { stride: 2, outputPadding: 1 } },
  { op: 'conv_transpose2d', x: [1, 2, 4, 4], w: [2, 3, 1, 1], attrs: {} },
];

const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || ol.info().backends.cuda.available);

describe('gradient entries of the conv2d family', () => {
  let s = seed;
  for (const device of devices)
    for (const c of CASES) {
      test(`${c.op} on ${device}: x [${c.x}] w [${c.w}] ${JSON.stringify(c.attrs)}`, () => {
        ol.tidy(() => {
          const x = ol.randn(c.x, { seed: s++, dtype: 'float64', device });
          const w = ol.randn(c.w, { seed: s++, dtype: 'float64', device });
          const b = ol.randn([c.op === 'conv2d' ? c.w[0] : c.w[1]], { seed: s++, dtype: 'float64', device });
          const y = apply(c.op, x, w, b, c.attrs);
          const g = ol.randn(y.shape, { seed: s++, dtype: 'float64', device });
          const entry = gradientOf(c.op);
          expect(entry).toBeDefined();
          const ctx: GradContext = { op: c.op, inputs: [x, w, b], outputs: [], attrs: c.attrs, needsGrad: [true, true, true] };
          const grads = entry!.grad([g], ctx);
          expect(grads).toHaveLength(3);
          const gh = Float64Array.from(g.data() as Float64Array);
          [x, w, b].forEach((arg, i) => {
            const got = grads[i]!;
            expect(got.shape).toEqual(arg.shape);
            expect(got.device).toBe(device);
            const fd = fdGrad(c.op, [x, w, b], i, gh, c.attrs);
            const d = got.data();
            let worst = 0;
            for (let e = 0; e < fd.length; e++) worst = Math.max(worst, Math.abs(d[e] - fd[e]) / (1 + Math.abs(fd[e])));
            expect(worst).toBeLessThan(1e-8);
          });
          // needsGrad false → null
          const none = entry!.grad([g], { ...ctx, needsGrad: [false, true, false] });
          expect(none[0]).toBeNull();
          expect(none[2]).toBeNull();
          expect(none[1]).not.toBeNull();
        });
      });
    }
});
