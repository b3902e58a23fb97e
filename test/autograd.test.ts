/**
 * Autograd: gradcheck (float64 central finite differences) of every differentiable op on cpu and cuda
 * (the emulated build under `npm test`), the gradient-decision coverage of the registry, and the tape's
 * behaviour: accumulation, noGrad/detach, errors, graph freeing, tidy() and `.grad` ownership.
 */
import * as ol from '../lib';
import { differentiableOps, nonDifferentiableOps } from '../lib/autograd/table';
import { record } from '../lib/autograd/tape';
import { runOp } from '../lib/ops/run';

const O = ol.ops;
const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`autograd seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);

const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);
let counter = 0;

/** Fresh seeded normal float64 input; `away` pushes |values| ≥ away (kinks of relu/abs/clamp/max). */
function randIn(shape: number[], device: ol.Device, opts: { lo?: number; hi?: number; away?: number } = {}): ol.Tensor {
  const s = (seed + 7919 * ++counter) % 2 ** 31;
  const t = opts.lo !== undefined
    ? ol.rand(shape, { seed: s, dtype: 'float64', device, low: opts.lo, high: opts.hi })
    : ol.randn(shape, { seed: s, dtype: 'float64', device });
  if (!opts.away) return t;
  const d = Float64Array.from(t.data(), (v) => (Math.abs(v) < opts.away! ? v + Math.sign(v || 1) * 2 * opts.away! : v));
  t.dispose();
  return ol.tensor(d, { shape, dtype: 'float64', device });
}

type Case = [string, (d: ol.Device) => { fn: (...x: ol.Tensor[]) => ol.Tensor; inputs: ol.Tensor[]; opts?: ol.GradcheckOptions }];

const CASES: Case[] = [
  ['add (broadcast)', (d) => ({ fn: (a, b) => O.add(a, b), inputs: [randIn([3, 1, 4], d), randIn([2, 4], d)] })],
  ['add (number operand)', (d) => ({ fn: (a) => O.add(2.5, a), inputs: [randIn([5], d)] })],
  ['sub (broadcast)', (d) => ({ fn: (a, b) => O.sub(a, b), inputs: [randIn([4], d), randIn([2, 3, 4], d)] })],
  ['mul (broadcast, same tensor twice)', (d) => ({ fn: (a, b) => O.mul(O.mul(a, b), a), inputs: [randIn([2, 3], d), randIn([3], d)] })],
  ['div (broadcast)', (d) => ({ fn: (a, b) => O.div(a, b), inputs: [randIn([3, 4], d), randIn([3, 1], d, { lo: 0.5, hi: 2 })] })],
  ['neg', (d) => ({ fn: (a) => O.neg(a), inputs: [randIn([7], d)] })],
  ['abs', (d) => ({ fn: (a) => O.abs(a), inputs: [randIn([9], d, { away: 0.05 })] })],
  ['exp', (d) => ({ fn: (a) => O.exp(a), inputs: [randIn([2, 5], d)] })],
  ['log', (d) => ({ fn: (a) => O.log(a), inputs: [randIn([2, 5], d, { lo: 0.2, hi: 3 })] })],
  ['sqrt', (d) => ({ fn: (a) => O.sqrt(a), inputs: [randIn([2, 5], d, { lo: 0.2, hi: 3 })] })],
  ['relu', (d) => ({ fn: (a) => O.relu(a), inputs: [randIn([3, 4], d, { away: 0.05 })] })],
  ['softplus', (d) => ({ fn: (a) => O.softplus(O.scale(a, 4)), inputs: [randIn([3, 4], d)] })],
  ['sigmoid', (d) => ({ fn: (a) => O.sigmoid(O.scale(a, 3)), inputs: [randIn([3, 4], d)] })],
  ['scale', (d) => ({ fn: (a) => O.scale(a, -1.7, 0.3), inputs: [randIn([6], d)] })],
  ['clamp', (d) => ({ fn: (a) => O.clamp(a, -0.5, 0.7), inputs: [randIn([12], d, { away: 0.05 })] })],
  ['cast float64 → float32 → float64', (d) => ({ fn: (a) => O.scale(a.astype('float32'), 2).astype('float64'), inputs: [randIn([5], d)], opts: { eps: 1e-2, atol: 1e-5, rtol: 1e-5 } })],
  ['sum (axes)', (d) => ({ fn: (a) => O.sum(a, [0, 2]), inputs: [randIn([2, 3, 4], d)] })],
  ['sum (all, keepDims)', (d) => ({ fn: (a) => O.sum(a, undefined, { keepDims: true }), inputs: [randIn([3, 4], d)] })],
  ['mean (negative axis, keepDims)', (d) => ({ fn: (a) => O.mean(a, -1, { keepDims: true }), inputs: [randIn([3, 5], d)] })],
  ['max (axis)', (d) => ({ fn: (a) => O.max(a, 1), inputs: [randIn([3, 6], d)] })],
  ['max (all)', (d) => ({ fn: (a) => O.max(a), inputs: [randIn([4, 3], d)] })],
  ['reshape', (d) => ({ fn: (a) => O.mul(O.reshape(a, [3, -1]), O.reshape(a, [3, 4])), inputs: [randIn([2, 6], d)] })],
  ['permute', (d) => ({ fn: (a) => O.permute(a, [2, 0, 1]), inputs: [randIn([2, 3, 4], d)] })],
  ['transpose', (d) => ({ fn: (a) => O.transpose(a), inputs: [randIn([3, 5], d)] })],
  ['slice', (d) => ({ fn: (a) => O.slice(a, [1, 0, -3], [3, 2, 4]), inputs: [randIn([4, 2, 5], d)] })],
  ['concat', (d) => ({ fn: (a, b, c) => O.concat([a, b, c], 1), inputs: [randIn([2, 1, 3], d), randIn([2, 3, 3], d), randIn([2, 2, 3], d)] })],
  ...([[false, false], [true, false], [false, true], [true, true]] as const).map(([tA, tB]): Case =>
    [`matmul transA=${tA} transB=${tB} (batched, broadcast)`, (d) => ({
      fn: (a, b) => O.matmul(a, b, { transA: tA, transB: tB }),
      inputs: [randIn(tA ? [2, 1, 4, 3] : [2, 1, 3, 4], d), randIn(tB ? [3, 2, 4] : [3, 4, 2], d)],
    })]),
  ['syrk', (d) => ({ fn: (a) => O.mul(O.syrk(a), randW), inputs: [randIn([3, 4], d)] })],
  ['syrk trans (batched)', (d) => ({ fn: (a) => O.syrk(a, { trans: true }), inputs: [randIn([2, 4, 3], d)] })],
  ['pixel_unshuffle', (d) => ({ fn: (a) => O.pixelUnshuffle(a, 2), inputs: [randIn([1, 2, 4, 2], d)] })],
  ['pixel_shuffle', (d) => ({ fn: (a) => O.pixelShuffle(a, 2), inputs: [randIn([1, 8, 1, 2], d)] })],
  ['pad_channels', (d) => ({ fn: (a) => O.padChannels(a, 5), inputs: [randIn([2, 3, 2], d)] })],
  ['first_channels', (d) => ({ fn: (a) => O.firstChannels(a, 2), inputs: [randIn([2, 4, 3], d)] })],
  ['avg_pool2d (stride, divisor)', (d) => ({ fn: (a) => O.avgPool2d(a, { kernelSize: 2, stride: 1, divisor: 2 }), inputs: [randIn([1, 2, 3, 4], d)] })],
  ['avg_pool2d_backward', (d) => ({ fn: (g) => O.avgPool2dBackward(g, [1, 2, 4, 4], { kernelSize: 2 }), inputs: [randIn([1, 2, 2, 2], d)] })],
  ['max_min', (d) => ({ fn: (a) => O.maxMin(a), inputs: [randIn([2, 4, 3], d)] })],
  ['max_min_backward (gradOut)', (d) => {
    const x = randIn([3, 6], d);
    return { fn: (g) => O.maxMinBackward(x, g), inputs: [randIn([3, 6], d)] };
  }],
  ['conv2d (bias, stride 2, padding 1)', (d) => ({ fn: (x, w, b) => O.conv2d(x, w, b, { stride: 2, padding: 1 }), inputs: [randIn([1, 2, 5, 5], d), randIn([3, 2, 3, 3], d), randIn([3], d)], opts: { maxElements: 64 } })],
  ['conv_transpose2d (bias)', (d) => ({ fn: (x, w, b) => O.convTranspose2d(x, w, b), inputs: [randIn([1, 2, 3, 3], d), randIn([2, 3, 3, 3], d), randIn([3], d)], opts: { maxElements: 64 } })],
  ['conv2d_backward_input (gradOut and w)', (d) => ({ fn: (g, w) => O.conv2dBackwardInput(g, w, [1, 2, 5, 5], { stride: 2 }), inputs: [randIn([1, 3, 3, 3], d), randIn([3, 2, 3, 3], d)], opts: { maxElements: 64 } })],
  ['conv2d_backward_weight (x and gradOut)', (d) => ({ fn: (x, g) => O.conv2dBackwardWeight(x, g, 3, { padding: 1 }), inputs: [randIn([1, 2, 4, 4], d), randIn([1, 3, 4, 4], d)], opts: { maxElements: 64 } })],
  ['to (cpu ↔ cuda)', (d) => ({ fn: (a) => O.mul(a.to(d === 'cpu' ? 'cuda' : 'cpu'), 3).to(d), inputs: [randIn([4], d)] })],
];
let randW: ol.Tensor;

describe.each(devices)('gradcheck of every differentiable op on %s', (device) => {
  beforeAll(() => {
    randW = ol.keep(randIn([3, 3], device));
  });
  afterAll(() => randW.dispose());
  test.each(CASES)('%s', (_name, make) => {
    if (_name.startsWith('to ') && devices.length < 2) return;
    ol.tidy(() => {
      const { fn, inputs, opts } = make(device);
      const r = ol.gradcheck(fn, inputs, opts);
      expect(r.ok).toBe(true);
      expect(r.checked).toBeGreaterThan(0);
    });
  });
});

describe('gradient decisions', () => {
  test('every registered op has a gradient entry or is declared non-differentiable', () => {
    const decided = new Set([...differentiableOps(), ...nonDifferentiableOps().map(([op]) => op)]);
    for (const device of devices) expect(info.ops[device].filter((op) => !decided.has(op))).toEqual([]);
  });
  // The op families whose gradients this file checks; other families (FFT, linear algebra, Lipschitz
  // layers) gradcheck their entries in their own tests.
  const FAMILIES = ['elementwise', 'reduce', 'layout', 'matmul', 'shuffle', 'pooling', 'conv2d'];
  test('every gradient entry of these families is exercised by a gradcheck case above', () => {
    const names = CASES.map(([n]) => n.split(' ')[0]);
    const familyOps = differentiableOps().filter((op) => ['reshape', 'to'].includes(op) || familyOf(op) !== undefined);
    expect(familyOps.length).toBeGreaterThan(30);
    expect(familyOps.filter((op) => !names.includes(op))).toEqual([]);
  });
  function familyOf(op: string): string | undefined {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const cases = FAMILIES.map((f) => [f, require(`./conformance/cases/${f}`).CASES as Record<string, unknown>] as const);
    return cases.find(([, c]) => op in c)?.[0];
  }
});

describe('gradcheck itself', () => {
  test('detects a wrong gradient entry (reports ok: false or throws ERR_GRADCHECK)', () => {
    ol.tidy(() => {
      const x = randIn([4], 'cpu');
      // exp(x)·x has derivative exp(x)(1 + x); exp(x) detached through noGrad drops a term.
      const wrong = (a: ol.Tensor) => O.mul(ol.noGrad(() => O.exp(a)), a);
      const r = ol.gradcheck(wrong, [x], { raise: false });
      expect(r.ok).toBe(false);
      expect(r.mismatches.length).toBeGreaterThan(0);
      expect(() => ol.gradcheck(wrong, [x])).toThrow(expect.objectContaining({ code: 'ERR_GRADCHECK' }));
      expect(ol.gradcheck((a) => O.mul(O.exp(a), a), [x]).ok).toBe(true);
    });
  });
  test('random directions for large inputs; restores requiresGrad and .grad', () => {
    ol.tidy(() => {
      const x = randIn([300], 'cpu');
      const r = ol.gradcheck((a) => O.sum(O.mul(O.sigmoid(a), a)), [x], { directions: 3 });
      expect(r.ok).toBe(true);
      expect(r.checked).toBe(3);
      expect(r.fullJacobian).toBe(false);
      expect(x.requiresGrad).toBe(false);
      expect(x.grad).toBeNull();
    });
  });
  test('rejects float32 inputs', () => {
    ol.tidy(() => {
      const x = ol.randn([3], { seed: 1 });
      expect(() => ol.gradcheck((a) => a, [x])).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    });
  });
});

describe.each(devices)('the tape on %s', (device) => {
  const leaf = (data: number[], shape?: number[]) => ol.tensor(data, { dtype: 'float64', device, requiresGrad: true, shape });

  test('accumulates over several uses and over several backward calls', () => {
    ol.tidy(() => {
      const x = leaf([1.5, -2, 0.25]);
      // f = Σ x² + Σ 3x → 2x + 3
      O.add(O.sum(O.mul(x, x)), O.sum(O.scale(x, 3))).backward();
      expect(Array.from(x.grad!.data())).toEqual([6, -1, 3.5]);
      O.sum(O.scale(x, 2)).backward();
      expect(Array.from(x.grad!.data())).toEqual([8, 1, 5.5]);
      x.clearGrad();
      expect(x.grad).toBeNull();
    });
  });

  test('conventions at kinks: max ties share, relu and abs give 0 at 0, clamp passes at its bounds', () => {
    ol.tidy(() => {
      const x = leaf([1, 3, 3, -2]);
      O.max(x).backward();
      expect(Array.from(x.grad!.data())).toEqual([0, 0.5, 0.5, 0]);
      const z = leaf([0, 2, -1, 0.5]);
      O.sum(O.add(O.relu(z), O.abs(z))).backward();
      expect(Array.from(z.grad!.data())).toEqual([0, 2, -1, 2]);
      const c = leaf([-1, 1, 0.3, 2]);
      O.sum(O.clamp(c, -1, 1)).backward();
      expect(Array.from(c.grad!.data())).toEqual([1, 1, 1, 0]);
    });
  });

  test('backward with an explicit gradient; the gradient argument is left intact', () => {
    ol.tidy(() => {
      const x = leaf([1, 2, 3, 4], [2, 2]);
      const y = O.mul(x, x);
      const g = ol.tensor([[1, 0.5], [-1, 2]], { dtype: 'float64', device });
      y.backward(g);
      expect(x.grad!.toArray()).toEqual([[2, 2], [-6, 16]]);
      expect(g.isDisposed).toBe(false);
      expect(g.toArray()).toEqual([[1, 0.5], [-1, 2]]);
    });
  });

  test('ops on tensors that do not require grad record nothing; noGrad and detach stop recording', () => {
    ol.tidy(() => {
      const a = ol.tensor([1, 2], { dtype: 'float64', device });
      const y = O.exp(O.mul(a, a));
      expect(y.requiresGrad).toBe(false);
      expect(y.isLeaf).toBe(true);
      for (const t of [ol.randn([2], { device, requiresGrad: true }), ol.rand([2], { device, requiresGrad: true }), ol.zeros([2], { device, requiresGrad: true })]) {
        expect(t.requiresGrad).toBe(true);
        expect(t.isLeaf).toBe(true);
      }
      expect(ol.randn([2], { device }).requiresGrad).toBe(false);
      const x = leaf([1, 2]);
      const z = ol.noGrad(() => O.exp(O.mul(x, x)));
      expect(z.requiresGrad).toBe(false);
      expect(z.isLeaf).toBe(true);
      expect(ol.isGradEnabled()).toBe(true);
      const d = x.detach();
      expect(d.requiresGrad).toBe(false);
      expect(O.mul(d, 2).requiresGrad).toBe(false);
      const w = O.mul(x, 2);
      expect(w.requiresGrad).toBe(true);
      expect(w.isLeaf).toBe(false);
      // detach in the middle cuts the gradient: d(x·detach(x))/dx = detach(x)
      O.sum(O.mul(x, x.detach())).backward();
      expect(Array.from(x.grad!.data())).toEqual([1, 2]);
    });
  });

  test('errors: non-scalar without grad, no requiresGrad, disposed input, freed graph, wrong grad', () => {
    ol.tidy(() => {
      const x = leaf([1, 2, 3]);
      const y = O.mul(x, 2);
      expect(() => y.backward()).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/gradient argument/) }));
      const c = ol.tensor([1, 2], { device });
      expect(() => O.sum(c).backward()).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/does not require grad/) }));
      expect(() => y.backward(ol.ones([2], { dtype: 'float64', device }))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
      expect(() => y.backward(ol.ones([3], { device }))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
      const h = O.exp(x);
      const s = O.sum(O.mul(h, h));
      h.dispose();
      expect(() => s.backward()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED', message: expect.stringMatching(/input \d of op 'mul' was disposed/) }));
      expect(x.grad).toBeNull();  // a failed backward changes no gradient
      const s2 = O.sum(O.exp(x));
      s2.backward();
      expect(() => s2.backward()).toThrow(expect.objectContaining({ message: expect.stringMatching(/already freed/) }));
      const s3 = O.sum(O.exp(x));
      x.clearGrad();
      s3.backward(undefined, { retainGraph: true });
      s3.backward();
      const e = Array.from(x.data(), (v) => 2 * Math.exp(v));
      Array.from(x.grad!.data()).forEach((v, i) => expect(v).toBeCloseTo(e[i], 12));
    });
  });

  test('backward frees intermediate gradients: repeated steps do not grow native memory', () => {
    const x = ol.keep(leaf([0.5, -1, 2, 3], [2, 2]));
    const step = () =>
      ol.tidy(() => {
        const y = O.sum(O.matmul(O.sigmoid(x), O.exp(x)));
        y.backward();
      });
    step();
    const before = ol.info().externalMemoryBytes;
    for (let i = 0; i < 30; i++) step();
    expect(ol.info().externalMemoryBytes).toBe(before);
    // the leaf's grad survived every tidy (it is owned by the leaf) and accumulated 31 times
    expect(x.grad).not.toBeNull();
    x.dispose();
    expect(ol.info().externalMemoryBytes).toBeLessThan(before);
  });

  test('a leaf created inside tidy takes its .grad with it; a kept leaf keeps it', () => {
    // Leaves from rand (no host arrays: V8 counts ArrayBuffers in the same external-memory figure).
    const mk = (s: number) => {
      const t = ol.rand([2], { seed: s, dtype: 'float64', device });
      t.requiresGrad = true;
      return t;
    };
    const before = ol.info().externalMemoryBytes;
    let inner: ol.Tensor | null = null;
    const kept = ol.tidy(() => {
      inner = mk(seed + 1);
      const k = mk(seed + 2);
      O.sum(O.mul(inner, k)).backward();
      return k;
    });
    expect(inner!.isDisposed).toBe(true);
    expect(kept.grad).not.toBeNull();
    expect(kept.grad!.isDisposed).toBe(false);
    const grad = kept.grad!;
    kept.dispose();
    expect(grad.isDisposed).toBe(true);
    expect(ol.info().externalMemoryBytes).toBe(before);
  });

  test('an op without a gradient decision is recorded and fails clearly at backward', () => {
    ol.tidy(() => {
      const x = leaf([1, 2]);
      const y = O.exp(x);
      const out = ol.tensor([5], { dtype: 'float64', device });
      record('some_new_op', [y], [out], {});
      expect(out.requiresGrad).toBe(true);
      expect(() => out.backward()).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED', message: expect.stringMatching(/'some_new_op' has no gradient entry/) }));
    });
  });

  test('int32 results get no gradient; non-differentiable ops record nothing; double backward ops', () => {
    ol.tidy(() => {
      const x = leaf([1.5, 2.5]);
      const i = x.astype('int32');
      expect(i.requiresGrad).toBe(false);
      const m = O.eq(x, ol.tensor([1.5, 0], { dtype: 'float64', device }));
      expect(m.requiresGrad).toBe(false);  // eq is declared non-differentiable
      const y = runOp('max_min_backward', [ol.tensor([[1, 2]], { dtype: 'float64', device }), O.reshape(x, [1, 2])])[0];
      O.sum(y).backward();
      expect(x.grad!.toArray()).toEqual([1, 1]);
    });
  });
});
