/**
 * Bad input through the public TypeScript API must raise `OnelipError` (instanceof) with the right
 * `code`, and a message that names the function or op, the argument and what was expected.
 * After a failed call, the inputs must still be intact (same data, not disposed).
 *
 * Where a public function is a thin wrapper over a native op (zeros/ones/full → `fill`, astype →
 * `cast`, tensor → `fromHost`), a message naming either is accepted; the accepted names are listed
 * per case.
 */
import * as ol from '../lib';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`errors seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);

let s = seed >>> 0;
function rnd(): number {
  let t = (s = (s + 0x6d2b79f5) >>> 0);
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
/** Random non-zero values in ±[0.25, 2.25), rounded to float32. */
function values(n: number): number[] {
  return Array.from({ length: n }, () => Math.fround((0.25 + 2 * rnd()) * (rnd() < 0.5 ? -1 : 1)));
}
function randTensor(shape: number[], opts: { dtype?: ol.DType; device?: ol.Device } = {}): { t: ol.Tensor; data: number[] } {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = opts.dtype === 'int32' ? Array.from({ length: n }, () => Math.floor(rnd() * 99) + 1) : values(n);
  return { t: ol.tensor(data, { shape, ...opts }), data };
}

const info = ol.info();
const cuda = info.backends.cuda.available;

/**
 * Runs fn, expects an OnelipError with `code` whose message contains every entry of `parts` (an entry
 * that is an array: at least one of its alternatives; a RegExp: must match).
 */
function expectError(fn: () => unknown, code: ol.ErrorCode, parts: (string | string[] | RegExp)[]): ol.OnelipError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`expected ${code} (${JSON.stringify(parts.map(String))}), but the call returned`);
  if (!(thrown instanceof ol.OnelipError)) {
    throw new Error(`expected an OnelipError ${code}, got ${(thrown as Error)?.constructor?.name}: ${(thrown as Error)?.message} (code ${(thrown as { code?: string })?.code})`);
  }
  expect(thrown).toBeInstanceOf(Error);
  expect(thrown.name).toBe('OnelipError');
  const msg = thrown.message;
  if (thrown.code !== code) throw new Error(`expected code ${code}, got ${thrown.code}: ${msg}`);
  for (const p of parts) {
    const ok = p instanceof RegExp ? p.test(msg) : Array.isArray(p) ? p.some((q) => msg.includes(q)) : msg.includes(p);
    if (!ok) throw new Error(`message of ${code} does not contain ${p instanceof RegExp ? p : JSON.stringify(p)}: "${msg}"`);
  }
  return thrown;
}

/** The tensor is alive and still holds `data` (a failed call must not touch its inputs). */
function expectIntact(t: ol.Tensor, data: number[]): void {
  expect(t.isDisposed).toBe(false);
  expect(Array.from(t.data())).toEqual(data);
}

describe('OnelipError from the public API', () => {
  describe('wrong shapes', () => {
    test('binary ops: shapes that do not broadcast', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        const b = randTensor([4, 5]);
        for (const op of ['add', 'sub', 'mul', 'div', 'eq'] as const) {
          expectError(() => ol.ops[op](a.t, b.t), 'ERR_SHAPE', [`${op}:`, '[2, 3]', '[4, 5]', 'broadcast']);
        }
        expectIntact(a.t, a.data);
        expectIntact(b.t, b.data);
      });
    });

    test('tensor(): data length does not match the shape', () => {
      const d = values(3);
      expectError(() => ol.tensor(d, { shape: [2, 2] }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'data', '3', '[2, 2]', '4']);
      expectError(() => ol.tensor(new Float32Array(d), { shape: [5] }), 'ERR_SHAPE', [['tensor', 'fromHost'], '3', '[5]']);
      expectError(() => ol.tensor([[1, 2], [3]]), 'ERR_SHAPE', ['tensor', 'ragged', 'data[1]', '2']);
    });

    test('tensor(): the length check comes before allocating (a huge mismatching shape is ERR_SHAPE, not out of memory)', () => {
      expectError(() => ol.tensor(new Float32Array(4), { shape: [2 ** 36] }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'data', '4', String(2 ** 36)]);
    });

    test('reshape: wrong size, two -1 entries, -1 that cannot be inferred', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        expectError(() => ol.ops.reshape(a.t, [4, 2]), 'ERR_SHAPE', ['reshape', '[2, 3]', '[4, 2]', '6', '8']);
        expectError(() => a.t.reshape([-1, -1]), 'ERR_SHAPE', ['reshape', '-1']);
        expectError(() => a.t.reshape([4, -1]), 'ERR_SHAPE', ['reshape', '-1', '6']);
        expectError(() => a.t.reshape([-2, 3]), 'ERR_SHAPE', ['reshape', 'shape', 'non-negative', '-2']);
        expectIntact(a.t, a.data);
      });
    });

    test('concat: shapes that differ outside the axis; scalars', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        const b = randTensor([3, 4]);
        expectError(() => ol.ops.concat([a.t, b.t], 1), 'ERR_SHAPE', ['concat', 'input 1', '[3, 4]', '[2, 3]', 'axis 1']);
        const c = randTensor([]);
        expectError(() => ol.ops.concat([c.t, c.t]), 'ERR_SHAPE', ['concat', 'scalar']);
        expectIntact(a.t, a.data);
      });
    });

    test('reductions: axis out of range, repeated axis, empty max/mean', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        expectError(() => ol.ops.sum(a.t, 2), 'ERR_ARGUMENT', ['sum', 'axis 2', 'out of range', '2 dimension']);
        expectError(() => ol.ops.mean(a.t, -3), 'ERR_ARGUMENT', ['mean', 'axis -3', 'out of range']);
        expectError(() => ol.ops.max(a.t, [1, -1]), 'ERR_ARGUMENT', ['max', 'repeated']);
        const e = ol.zeros([0, 3]);
        expectError(() => ol.ops.max(e), 'ERR_SHAPE', ['max', 'empty', '[0, 3]']);
        expectError(() => ol.ops.mean(e, 0), 'ERR_SHAPE', ['mean', 'empty', '[0, 3]']);
        expectIntact(a.t, a.data);
      });
    });

    test('permute / transpose / slice: bad permutations, dims and bounds', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3, 4]);
        expectError(() => ol.ops.permute(a.t, [0, 1]), 'ERR_ARGUMENT', ['permute', 'perm', '3 dimensions', 'got 2']);
        expectError(() => ol.ops.permute(a.t, [0, 0, 1]), 'ERR_ARGUMENT', ['permute', 'perm', 'permutation', '0..2']);
        expectError(() => ol.ops.permute(a.t, [0, 1, 3]), 'ERR_ARGUMENT', ['permute', 'perm', '3']);
        expectError(() => ol.ops.transpose(a.t, 0, 3), 'ERR_ARGUMENT', ['transpose', '0, 3', '3-d']);
        expectError(() => ol.ops.slice(a.t, [0, 0, 0], [3, 1, 1]), 'ERR_ARGUMENT', ['slice', 'dim 0', 'size 2', '[0, 3)']);
        expectError(() => ol.ops.slice(a.t, [0, 2, 0], [1, 1, 1]), 'ERR_ARGUMENT', ['slice', 'dim 1', '[2, 1)']);
        expectError(() => ol.ops.slice(a.t, [0, 0]), 'ERR_ARGUMENT', ['slice', 'begin', 'end', 'one entry per dimension', '3']);
        expectIntact(a.t, a.data);
      });
    });

    test('9-d shapes and sizes over the limit', () => {
      const nine = [1, 1, 2, 1, 1, 1, 1, 1, 1];
      expectError(() => ol.zeros(nine), 'ERR_SHAPE', [['zeros', 'fill'], 'shape', '9', 'at most 8']);
      expectError(() => ol.tensor([1, 2], { shape: nine }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'shape', '9', 'at most 8']);
      ol.tidy(() => {
        const a = randTensor([2]);
        expectError(() => a.t.reshape(nine), 'ERR_SHAPE', ['reshape', 'shape', '9', 'at most 8']);
      });
      expectError(() => ol.zeros([2 ** 30, 2 ** 30]), 'ERR_SHAPE', [['zeros', 'fill'], 'too large', String(2 ** 30)]);
    });

    test('item() on a tensor with more than one element', () => {
      ol.tidy(() => {
        const a = randTensor([2, 2]);
        expectError(() => a.t.item(), 'ERR_SHAPE', ['item', '4 elements', '[2,2]', 'expected 1']);
      });
    });
  });

  describe('mismatched devices', () => {
    test('the emulated cuda device is available under ONELIP_ADDON=emu', () => {
      if (process.env.ONELIP_ADDON === 'emu') expect(info.backends.cuda).toMatchObject({ available: true, emulated: true });
      else console.log(`errors.test: ONELIP_ADDON=${process.env.ONELIP_ADDON ?? '(default)'}; cuda available: ${cuda}`);
    });

    (cuda ? test : test.skip)('cpu tensor + cuda tensor', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        const b = randTensor([2, 3], { device: 'cuda' });
        expectError(() => ol.ops.add(a.t, b.t), 'ERR_DEVICE', ['add', 'input 1', 'cuda', 'cpu', ".to('cpu')"]);
        expectError(() => ol.ops.mul(b.t, a.t), 'ERR_DEVICE', ['mul', 'input 1', 'cpu', 'cuda', ".to('cuda')"]);
        expectError(() => ol.ops.concat([b.t, a.t]), 'ERR_DEVICE', ['concat', 'input 1', 'cpu']);
        expectIntact(a.t, a.data);
        expect(Array.from(b.t.data())).toEqual(b.data);
      });
    });

    test('unknown device names', () => {
      ol.tidy(() => {
        const a = randTensor([3]);
        expectError(() => a.t.to('tpu' as ol.Device), 'ERR_DEVICE', ['to', 'device', "'cpu' or 'cuda'", 'tpu']);
        expectError(() => ol.zeros([2], { device: 'gpu' as ol.Device }), 'ERR_DEVICE', [['zeros', 'full'], 'device', "'cpu' or 'cuda'", 'gpu']);
        expectError(() => ol.tensor([1, 2], { device: 'cuda:0' as ol.Device }), 'ERR_DEVICE', ['tensor', 'device', 'cuda:0']);
        expectError(() => ol.rand([2], { device: 'CPU' as ol.Device }), 'ERR_DEVICE', ['rand', 'device', 'CPU']);
        expectIntact(a.t, a.data);
      });
    });

    (cuda ? test.skip : test)('the cuda device when it is not available names the reason', () => {
      expectError(() => ol.zeros([2], { device: 'cuda' }), 'ERR_DEVICE', ['cuda', 'not available', info.backends.cuda.reason ?? '']);
    });
  });

  describe('mismatched and unsupported dtypes', () => {
    test('binary ops with different dtypes', () => {
      ol.tidy(() => {
        const a = randTensor([2, 2]);
        const b = randTensor([2, 2], { dtype: 'float64' });
        const c = randTensor([2, 2], { dtype: 'int32' });
        expectError(() => ol.ops.add(a.t, b.t), 'ERR_DTYPE', ['add', 'input 1', 'float64', 'input 0', 'float32', 'astype']);
        expectError(() => ol.ops.sub(c.t, a.t), 'ERR_DTYPE', ['sub', 'input 1', 'float32', 'int32']);
        expectError(() => ol.ops.concat([a.t, c.t]), 'ERR_DTYPE', ['concat', 'input 1', 'int32', 'float32']);
        expectIntact(a.t, a.data);
        expectIntact(c.t, c.data);
      });
    });

    test('float-only ops on int32', () => {
      ol.tidy(() => {
        const c = randTensor([3], { dtype: 'int32' });
        for (const op of ['exp', 'log', 'sqrt', 'relu', 'softplus', 'sigmoid', 'sign'] as const) {
          expectError(() => ol.ops[op](c.t), 'ERR_DTYPE', [op, 'input 0', 'int32', 'float32', 'float64']);
        }
        expectError(() => ol.ops.div(c.t, c.t), 'ERR_DTYPE', ['div', 'int32', 'expected one of float32, float64']);
        expectError(() => ol.ops.eq(c.t, c.t), 'ERR_DTYPE', ['eq', 'int32', 'expected one of float32, float64']);
        expectError(() => ol.ops.mean(c.t), 'ERR_DTYPE', ['mean', 'int32']);
        expectError(() => ol.ops.scale(c.t, 2), 'ERR_DTYPE', ['scale', 'int32']);
        expectIntact(c.t, c.data);
      });
    });

    test('unknown dtype names, non-int32 values for int32, int32 random numbers', () => {
      ol.tidy(() => {
        const a = randTensor([2]);
        expectError(() => a.t.astype('float16' as ol.DType), 'ERR_DTYPE', [['astype', 'cast'], 'dtype', 'float16', "'float32', 'float64' or 'int32'"]);
        expectError(() => ol.zeros([2], { dtype: 'int64' as ol.DType }), 'ERR_DTYPE', [['zeros', 'full'], 'dtype', 'int64']);
        expectError(() => ol.tensor([1, 2.5], { dtype: 'int32' }), 'ERR_DTYPE', ['tensor', 'element 1', '2.5', 'int32']);
        expectError(() => ol.tensor([2 ** 31], { dtype: 'int32' }), 'ERR_DTYPE', ['tensor', 'element 0', 'int32']);
        expectError(() => ol.rand([2], { dtype: 'int32' as 'float32' }), 'ERR_DTYPE', ['rand', 'dtype', 'float32 or float64', 'int32']);
        expectError(() => ol.full([2], 1.5, { dtype: 'int32' }), 'ERR_ARGUMENT', [['full', 'fill'], 'value', '1.5', 'int32']);
        expectError(() => ol.full([2], NaN, { dtype: 'int32' }), 'ERR_ARGUMENT', [['full', 'fill'], 'value', ['nan', 'NaN'], 'int32']);
        expectIntact(a.t, a.data);
      });
    });
  });

  describe('disposed tensors', () => {
    test('ops on a disposed tensor name the op and the argument', () => {
      const a = randTensor([2, 2]);
      const b = randTensor([2, 2]);
      a.t.dispose();
      expectError(() => ol.ops.add(a.t, b.t), 'ERR_DISPOSED', ['add', "'a'", 'disposed']);
      expectError(() => ol.ops.add(b.t, a.t), 'ERR_DISPOSED', ['add', "'b'", 'disposed']);
      expectError(() => ol.ops.exp(a.t), 'ERR_DISPOSED', ['exp', "'x'", 'disposed']);
      expectError(() => ol.ops.concat([b.t, a.t]), 'ERR_DISPOSED', ['concat', 'tensors[1]', 'disposed']);
      expectError(() => ol.ops.sum(a.t), 'ERR_DISPOSED', ['sum', "'x'", 'disposed']);
      expectIntact(b.t, b.data);
      b.t.dispose();
    });

    test('a number operand with a disposed tensor still names the op', () => {
      const a = randTensor([2]);
      a.t.dispose();
      expectError(() => ol.ops.add(1, a.t), 'ERR_DISPOSED', ['add', 'disposed']);
      expectError(() => ol.ops.mul(a.t, 2), 'ERR_DISPOSED', ['mul', 'disposed']);
    });

    test('methods of a disposed tensor name the method', () => {
      const a = randTensor([2, 2]);
      a.t.dispose();
      expect(a.t.isDisposed).toBe(true);
      expect(() => a.t.dispose()).not.toThrow(); // idempotent
      expect(String(a.t)).toBe('Tensor(disposed)');
      expectError(() => a.t.data(), 'ERR_DISPOSED', ['data', 'disposed']);
      expectError(() => a.t.item(), 'ERR_DISPOSED', ['item', 'disposed']);
      expectError(() => a.t.toArray(), 'ERR_DISPOSED', ['toArray', 'disposed']);
      expectError(() => a.t.to('cpu'), 'ERR_DISPOSED', ['to', 'disposed']);
      expectError(() => a.t.astype('float64'), 'ERR_DISPOSED', [['astype', 'cast'], 'disposed']);
      expectError(() => a.t.reshape([4]), 'ERR_DISPOSED', ['reshape', 'disposed']);
      expectError(() => a.t.shape, 'ERR_DISPOSED', ['shape', 'disposed']);
    });

    test('a tensor disposed by tidy() cannot be used afterwards; the returned one can', () => {
      let inner: ol.Tensor | undefined;
      const kept = ol.tidy(() => {
        inner = randTensor([3]).t;
        return ol.ops.scale(inner, 2);
      });
      expect(inner!.isDisposed).toBe(true);
      expectError(() => ol.ops.neg(inner!), 'ERR_DISPOSED', ['neg', "'x'", 'disposed']);
      expect(kept.isDisposed).toBe(false);
      kept.dispose();
    });
  });

  describe('negative and non-integer sizes', () => {
    test('creation functions', () => {
      expectError(() => ol.zeros([-1]), 'ERR_SHAPE', [['zeros', 'fill'], 'shape', 'non-negative', '-1']);
      expectError(() => ol.ones([2, -3]), 'ERR_SHAPE', [['ones', 'fill'], 'shape', 'non-negative', '-3']);
      expectError(() => ol.rand([2, -3]), 'ERR_SHAPE', ['rand', 'shape', 'non-negative', '-3']);
      // a non-integer size is a shape error too, whichever path validates it
      expectError(() => ol.zeros([1.5]), 'ERR_SHAPE', [['zeros', 'fill'], 'shape', '1.5']);
      expectError(() => ol.randn([2, 0.5]), 'ERR_SHAPE', ['randn', 'shape', '0.5']);
      expectError(() => ol.tensor([1], { shape: [1.5] }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'shape', '1.5']);
      expectError(() => ol.tensor([1], { shape: [NaN] }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'shape', 'non-negative integers']);
      expectError(() => ol.tensor([1], { shape: [Infinity] }), 'ERR_SHAPE', [['tensor', 'fromHost'], 'shape', 'non-negative integers']);
    });

    test('thread count', () => {
      for (const n of [0, -1, 1.5, 257, NaN, Infinity]) {
        expectError(() => ol.setNumThreads(n), 'ERR_ARGUMENT', ['setNumThreads', 'n', 'integer in 1..256', String(n)]);
      }
    });

    test('random seeds must be non-negative integers', () => {
      expectError(() => ol.rand([2], { seed: -1 }), 'ERR_ARGUMENT', ['rand', 'seed', 'non-negative', '-1']);
      expectError(() => ol.randn([2], { seed: 1.5 }), 'ERR_ARGUMENT', ['randn', 'seed', 'integer', '1.5']);
    });
  });

  describe('autograd and nn', () => {
    test('backward, grad, assign, noGrad, gradcheck: bad arguments', () => {
      ol.tidy(() => {
        const x = ol.tensor([1, 2], { requiresGrad: true });
        const y = ol.ops.mul(x, x);
        expectError(() => y.backward([1, 1] as unknown as ol.Tensor), 'ERR_ARGUMENT', ['backward', 'grad', 'Tensor']);
        expectError(() => y.backward(ol.ones([3])), 'ERR_SHAPE', ['backward', 'grad', '[2]', '[3]']);
        expectError(() => y.backward(undefined, 5 as unknown as ol.BackwardOptions), 'ERR_ARGUMENT', ['backward', 'options']);
        expectError(() => { x.grad = ol.ones([3]); }, 'ERR_SHAPE', ['Tensor.grad', '[2]', '[3]']);
        expectError(() => x.assign(ol.ones([2], { dtype: 'float64' })), 'ERR_SHAPE', ['Tensor.assign', 'float32', 'float64']);
        expectError(() => ol.noGrad(3 as unknown as () => void), 'ERR_ARGUMENT', ['noGrad', 'function']);
        expectError(() => ol.tensor([1, 2], { dtype: 'int32', requiresGrad: true }), 'ERR_DTYPE', ['requiresGrad', 'float32', 'int32']);
        expectError(() => ol.gradcheck(null as unknown as () => ol.Tensor, [x]), 'ERR_ARGUMENT', ['gradcheck', 'fn']);
        expectError(() => ol.gradcheck((a) => a, []), 'ERR_ARGUMENT', ['gradcheck', 'inputs']);
        expectError(() => ol.gradcheck((a) => a, [x]), 'ERR_DTYPE', ['gradcheck', 'inputs[0]', 'float32', 'float64']);
        const d = ol.tensor([1, 2], { dtype: 'float64' });
        expectError(() => ol.gradcheck(() => ol.ones([1]), [d]), 'ERR_DTYPE', ['gradcheck', 'float64', 'float32']);
        expectIntact(d, [1, 2]);
      });
    });

    test('modules: bad sizes, options and state dicts', () => {
      expectError(() => new ol.nn.Linear(0, 2), 'ERR_ARGUMENT', ['Linear', 'inFeatures', 'positive integer', '0']);
      expectError(() => new ol.nn.Linear(2, 2.5), 'ERR_ARGUMENT', ['Linear', 'outFeatures', '2.5']);
      expectError(() => new ol.nn.Linear(2, 2, { seed: -1 }), 'ERR_ARGUMENT', ['seed']);
      expectError(() => new ol.nn.Conv2d(1, 2, { kernelSize: 0 }), 'ERR_ARGUMENT', ['Conv2d', 'kernelSize']);
      expectError(() => new ol.nn.Conv2d(1, 2, { kernelSize: 3, padding: -1 }), 'ERR_ARGUMENT', ['Conv2d', 'padding']);
      expectError(() => new ol.nn.PaddingChannels(-3), 'ERR_ARGUMENT', ['PaddingChannels', 'channels']);
      expectError(() => ol.nn.manualSeed(1.5), 'ERR_ARGUMENT', ['manualSeed', 'seed']);
      const m = new ol.nn.Linear(3, 2, { seed: 1 });
      const before = Array.from(m.weight.data());
      expectError(() => m.forward(ol.ones([2, 4])), 'ERR_SHAPE', ['Linear', 'x', '[..., 3]', '[2,4]']);
      expectError(() => m.loadStateDict(null as unknown as Record<string, ol.Tensor>), 'ERR_ARGUMENT', ['loadStateDict', 'object']);
      expectError(() => m.loadStateDict({ weight: [1] as unknown as ol.Tensor, bias: m.bias! }), 'ERR_ARGUMENT', ['loadStateDict', "'weight'", 'Tensor']);
      expectError(() => m.to('gpu' as ol.Device), 'ERR_DEVICE', ['Module.to', 'gpu']);
      expect(Array.from(m.weight.data())).toEqual(before);
      m.dispose();
    });
  });

  describe('wrong argument types', () => {
    test('a non-tensor where a tensor is expected', () => {
      ol.tidy(() => {
        const a = randTensor([2]);
        expectError(() => ol.ops.add('x' as unknown as ol.Tensor, a.t), 'ERR_ARGUMENT', ['add', "'a'", 'must be a Tensor', 'string']);
        expectError(() => ol.ops.add(a.t, {} as unknown as ol.Tensor), 'ERR_ARGUMENT', ['add', "'b'", 'must be a Tensor', 'object']);
        expectError(() => ol.ops.add(1, 2), 'ERR_ARGUMENT', ['add', 'must be a Tensor', 'number']);
        expectError(() => ol.ops.sum(null as unknown as ol.Tensor), 'ERR_ARGUMENT', ['sum', "'x'", 'must be a Tensor', 'null']);
        expectError(() => ol.ops.exp([1, 2] as unknown as ol.Tensor), 'ERR_ARGUMENT', ['exp', "'x'", 'must be a Tensor', 'array']);
        expectError(() => ol.ops.concat('x' as unknown as ol.Tensor[]), 'ERR_ARGUMENT', ['concat', 'non-empty array of tensors']);
        expectError(() => ol.ops.concat([]), 'ERR_ARGUMENT', ['concat', 'non-empty array']);
        expectError(() => ol.ops.concat([a.t, 5 as unknown as ol.Tensor]), 'ERR_ARGUMENT', ['concat', 'tensors[1]', 'must be a Tensor']);
        expectError(() => ol.ops.reshape(5 as unknown as ol.Tensor, [1]), 'ERR_ARGUMENT', ['reshape', "'x'", 'must be a Tensor']);
        expectIntact(a.t, a.data);
      });
    });

    test('attributes of the wrong type', () => {
      ol.tidy(() => {
        const a = randTensor([2, 3]);
        expectError(() => ol.ops.scale(a.t, 'x' as unknown as number), 'ERR_ARGUMENT', ['scale', "'alpha'", 'number', "'x'"]);
        expectError(() => ol.ops.scale(a.t, NaN), 'ERR_ARGUMENT', ['scale', 'alpha', 'finite']);
        expectError(() => ol.ops.clamp(a.t, 2, 1), 'ERR_ARGUMENT', ['clamp', 'min <= max', 'min=2', 'max=1']);
        expectError(() => ol.ops.sum(a.t, [0.5]), 'ERR_ARGUMENT', ['sum', "'axes'", 'integers', '0.5']);
        expectError(() => ol.ops.sum(a.t, 'all' as unknown as number), 'ERR_ARGUMENT', ['sum', "'axes'", 'integers']);
        expectError(() => ol.ops.sum(a.t, 0, { keepDims: 'yes' as unknown as boolean }), 'ERR_ARGUMENT', ['sum', "'keepDims'", 'boolean']);
        expectError(() => ol.ops.permute(a.t, [0, '1'] as unknown as number[]), 'ERR_ARGUMENT', ['permute', "'perm'", 'numbers', 'entry 1', 'string']);
        expectError(() => ol.ops.concat([a.t], 'x' as unknown as number), 'ERR_ARGUMENT', ['concat', "'axis'", 'integer']);
        expectError(() => ol.ops.transpose(a.t, 0.5, 1), 'ERR_ARGUMENT', ['transpose', '0.5']);
        expectIntact(a.t, a.data);
      });
    });

    test('creation functions with arguments of the wrong type', () => {
      expectError(() => ol.tensor({} as unknown as number[]), 'ERR_ARGUMENT', ['tensor', 'data', 'nested arrays']);
      // not a shape problem: an element that is not a number (the message must not call it "ragged")
      expectError(() => ol.tensor([1, 'a'] as unknown as number[]), 'ERR_ARGUMENT', ['tensor', 'data[1]', 'number']);
      expectError(() => ol.zeros('3' as unknown as number[]), 'ERR_ARGUMENT', [['zeros', 'fill'], 'shape', "'3'"]);
      expectError(() => ol.zeros([2], 'cuda' as unknown as ol.CreateOptions), 'ERR_ARGUMENT', [['zeros', 'full'], 'options', 'object']);
      expectError(() => ol.full([2], '1' as unknown as number), 'ERR_ARGUMENT', ['full', 'value', 'number']);
      expectError(() => ol.rand([2], { low: 2, high: 1 }), 'ERR_ARGUMENT', ['rand', 'low', 'high', 'low <= high']);
      expectError(() => ol.randn([2], { std: -1 }), 'ERR_ARGUMENT', ['randn', 'std', 'std >= 0']);
    });

    test('tidy() with a non-function or an async function', () => {
      expectError(() => ol.tidy(5 as unknown as () => void), 'ERR_ARGUMENT', ['tidy', 'function']);
      const before = randTensor([2]);
      let inside: ol.Tensor | undefined;
      expectError(
        () =>
          ol.tidy(async () => {
            inside = ol.ops.neg(before.t);
            return inside;
          }),
        'ERR_ARGUMENT',
        ['tidy', 'synchronous', 'Promise'],
      );
      expectIntact(before.t, before.data);
      before.t.dispose();
      expect(inside?.isDisposed).toBe(true);
    });

    test('errors thrown inside tidy() propagate, and the scope is still cleaned up', () => {
      let inner: ol.Tensor | undefined;
      expectError(
        () =>
          ol.tidy(() => {
            inner = randTensor([2]).t;
            return ol.ops.add(inner, ol.zeros([3]));
          }),
        'ERR_SHAPE',
        ['add', '[2]', '[3]'],
      );
      expect(inner?.isDisposed).toBe(true);
    });
  });

  describe('conv2d family', () => {
    test('channel mismatch, non-4-d inputs, bias and grad_out shapes', () => {
      ol.tidy(() => {
        const x = randTensor([1, 3, 5, 5]);
        const w = randTensor([2, 4, 3, 3]);
        expectError(() => ol.ops.conv2d(x.t, w.t), 'ERR_SHAPE', ['conv2d', 'input 1 (w)', '4 input channels', 'input 0 (x)', '3 channels']);
        const w3 = randTensor([2, 3, 3, 3]);
        expectError(() => ol.ops.conv2d(randTensor([3, 5, 5]).t, w3.t), 'ERR_SHAPE', ['conv2d', 'input 0 (x)', '4-d', '[3, 5, 5]']);
        expectError(() => ol.ops.conv2d(x.t, w3.t, { bias: randTensor([3]).t }), 'ERR_SHAPE', ['conv2d', 'bias', '[2]', '[3]']);
        expectError(() => ol.ops.convTranspose2d(x.t, randTensor([2, 3, 3, 3]).t), 'ERR_SHAPE', ['conv_transpose2d', 'input 1 (w', '2 input channels', '3 channels']);
        expectError(() => ol.ops.conv2dBackwardInput(randTensor([1, 2, 4, 5]).t, w3.t, [1, 3, 5, 5]), 'ERR_SHAPE',
          ['conv2d_backward_input', 'grad_out', '[1, 2, 4, 5]', '[1, 2, 5, 5]']);
        expectError(() => ol.ops.conv2dBackwardWeight(x.t, randTensor([1, 2, 3, 3]).t, 3), 'ERR_SHAPE',
          ['conv2d_backward_weight', 'grad_out', '[1, 2, 3, 3]', '[1, 2, 5, 5]']);
        expectIntact(x.t, x.data);
        expectIntact(w.t, w.data);
      });
    });

    test('unsupported kernel sizes, strides, paddings, output sizes ≤ 0', () => {
      ol.tidy(() => {
        const x = randTensor([1, 2, 9, 9]);
        const w = randTensor([2, 2, 3, 3]);
        expectError(() => ol.ops.conv2d(x.t, randTensor([2, 2, 9, 9]).t), 'ERR_UNSUPPORTED', ['conv2d', 'input 1 (w)', '9×9', '1..7']);
        expectError(() => ol.ops.conv2d(x.t, randTensor([2, 2, 3, 8]).t), 'ERR_UNSUPPORTED', ['conv2d', '3×8', '1..7']);
        expectError(() => ol.ops.conv2dBackwardWeight(x.t, randTensor([1, 2, 9, 9]).t, 8), 'ERR_ARGUMENT', ['conv2d_backward_weight', 'kernelSize', '1..7', '8']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { stride: 3 }), 'ERR_ARGUMENT', ['conv2d', "'stride'", '1 or 2', '3']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { stride: [1, 0] }), 'ERR_ARGUMENT', ['conv2d', "'stride'", '1 or 2', '0']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { stride: 1.5 }), 'ERR_ARGUMENT', ['conv2d', 'stride']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { padding: -1 }), 'ERR_ARGUMENT', ['conv2d', "'padding'", '-1']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { padding: [1, 2, 3] as unknown as [number, number] }), 'ERR_ARGUMENT', ['conv2d', "'padding'", '3 values']);
        expectError(() => ol.ops.conv2d(randTensor([1, 2, 2, 9]).t, randTensor([2, 2, 5, 5]).t, { padding: 0 }), 'ERR_SHAPE',
          ['conv2d', 'output height', '≤ 0', 'kernel (5)']);
        expectError(() => ol.ops.convTranspose2d(randTensor([1, 2, 1, 1]).t, randTensor([2, 2, 1, 1]).t, { padding: 1 }), 'ERR_SHAPE',
          ['conv_transpose2d', 'output size', '≥ 1']);
        expectError(() => ol.ops.convTranspose2d(x.t, w.t, { stride: 2, outputPadding: 2 }), 'ERR_ARGUMENT', ['conv_transpose2d', 'outputPadding', 'stride']);
        expectError(() => ol.ops.convTranspose2d(x.t, w.t, { outputPadding: 1 }), 'ERR_ARGUMENT', ['conv_transpose2d', 'outputPadding', 'smaller than the stride']);
        expectError(() => ol.ops.conv2d(x.t, w.t, { dilation: 2 } as unknown as ol.ops.Conv2dOptions), 'ERR_ARGUMENT', ['conv2d', "unknown option 'dilation'", 'stride, padding, bias']);
        expectError(() => ol.ops.conv2d(x.t, w.t, 3 as unknown as ol.ops.Conv2dOptions), 'ERR_ARGUMENT', ['conv2d', 'options']);
        expectError(() => ol.ops.conv2d(x.t, 'w' as unknown as ol.Tensor), 'ERR_ARGUMENT', ['conv2d', "'w'", 'Tensor']);
        expectIntact(x.t, x.data);
        expectIntact(w.t, w.data);
      });
    });

    test('mixed dtypes and int32', () => {
      ol.tidy(() => {
        const x = randTensor([1, 2, 5, 5]);
        const w64 = randTensor([2, 2, 3, 3], { dtype: 'float64' });
        expectError(() => ol.ops.conv2d(x.t, w64.t), 'ERR_DTYPE', ['conv2d', 'input 1', 'float64', 'float32', 'astype']);
        expectError(() => ol.ops.conv2d(x.t, randTensor([2, 2, 3, 3]).t, { bias: randTensor([2], { dtype: 'float64' }).t }), 'ERR_DTYPE', ['conv2d', 'input 2', 'float64']);
        const xi = randTensor([1, 2, 5, 5], { dtype: 'int32' });
        expectError(() => ol.ops.conv2d(xi.t, randTensor([2, 2, 3, 3], { dtype: 'int32' }).t), 'ERR_DTYPE', ['conv2d', 'input 0', 'int32', 'float32, float64']);
        expectError(() => ol.ops.conv2dBackwardWeight(x.t, randTensor([1, 2, 5, 5], { dtype: 'float64' }).t, 3), 'ERR_DTYPE', ['conv2d_backward_weight', 'input 1', 'float64']);
        expectIntact(x.t, x.data);
      });
    });

    (cuda ? test : test.skip)('mixed devices', () => {
      ol.tidy(() => {
        const x = randTensor([1, 2, 5, 5]);
        const w = randTensor([2, 2, 3, 3], { device: 'cuda' });
        expectError(() => ol.ops.conv2d(x.t, w.t), 'ERR_DEVICE', ['conv2d', 'input 1', 'cuda', 'cpu']);
        expectError(() => ol.ops.convTranspose2d(randTensor([1, 2, 5, 5], { device: 'cuda' }).t, randTensor([2, 2, 3, 3]).t), 'ERR_DEVICE', ['conv_transpose2d', 'input 1', 'cpu']);
        expectError(() => ol.ops.conv2d(randTensor([1, 2, 5, 5], { device: 'cuda' }).t, w.t, { bias: randTensor([2]).t }), 'ERR_DEVICE', ['conv2d', 'input 2', 'cpu']);
        expectIntact(x.t, x.data);
      });
    });

    test('a valid conv2d next to the failing ones gives the right numbers', () => {
      ol.tidy(() => {
        // 1 image, 1 channel, 3×3 input, 2×2 kernel, stride 1, padding 0: y[i][j] = Σ x[i+a][j+b]·w[a][b].
        const x = randTensor([1, 1, 3, 3]);
        const w = randTensor([1, 1, 2, 2]);
        const y = ol.ops.conv2d(x.t, w.t, { padding: 0 }).data();
        expect(y.length).toBe(4);
        for (let i = 0; i < 2; i++)
          for (let j = 0; j < 2; j++) {
            let e = 0;
            for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) e += x.data[(i + a) * 3 + j + b] * w.data[a * 2 + b];
            expect(Math.abs(y[i * 2 + j] - e)).toBeLessThan(1e-5);
          }
      });
    });
  });

  describe('spectral ops: kernel self-correlation and power iteration', () => {
    const devices: ol.Device[] = cuda ? ['cpu', 'cuda'] : ['cpu'];
    test('kernelSelfCorrelation: not a 4-d odd square kernel, k > 7, int32; backward with a wrong gradG', () => {
      for (const device of devices)
        ol.tidy(() => {
          for (const shape of [[2, 3, 3], [2, 3, 2, 2], [2, 3, 3, 5], [1, 1, 9, 9]])
            expectError(() => ol.ops.kernelSelfCorrelation(randTensor(shape, { device }).t), 'ERR_SHAPE', ['kernel_self_correlation', 'K', 'k odd in 1..7']);
          expectError(() => ol.ops.kernelSelfCorrelation(randTensor([2, 2, 3, 3], { dtype: 'int32', device }).t), 'ERR_DTYPE', ['kernel_self_correlation', 'int32', 'float32']);
          const K = randTensor([2, 3, 3, 3], { device });
          expectError(() => ol.ops.kernelSelfCorrelationBackward(K.t, randTensor([2, 2, 3, 3], { device }).t), 'ERR_SHAPE', ['kernel_self_correlation_backward', 'gradG', '[2, 2, 5, 5]']);
          expectError(() => ol.ops.kernelSelfCorrelationBackward(K.t, randTensor([2, 2, 5, 5], { dtype: 'float64', device }).t), 'ERR_DTYPE', ['kernel_self_correlation_backward', 'float64']);
          expectError(() => ol.ops.kernelSelfCorrelation([1, 2] as unknown as ol.Tensor), 'ERR_ARGUMENT', ['kernel_self_correlation', 'K']);
          expect(Array.from(K.t.data())).toEqual(K.data);
        });
    });

    test('powerIteration: shape mismatches, bad iters, bad operator objects and options', () => {
      for (const device of devices)
        ol.tidy(() => {
          const W = randTensor([4, 3], { device });
          const u = randTensor([3], { device });
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, randTensor([4], { device }).t, { iters: 3 }), 'ERR_SHAPE', ['power_iteration_dense', 'u', '[3]']);
          expectError(() => ol.ops.powerIteration({ matrix: randTensor([2, 2, 2], { device }).t }, u.t, { iters: 3 }), 'ERR_SHAPE', ['power_iteration_dense', 'W', '2-d']);
          for (const iters of [0, -1, 1.5, NaN, 2e6])
            expectError(() => ol.ops.powerIteration({ matrix: W.t }, u.t, { iters }), 'ERR_ARGUMENT', ['powerIteration', 'iters', '1..1000000']);
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, u.t, { iters: '3' as unknown as number }), 'ERR_ARGUMENT', ['powerIteration', 'iters']);
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, u.t, { iters: 3, foo: 1 } as unknown as ol.ops.PowerIterationOptions), 'ERR_ARGUMENT', ['powerIteration', 'foo', 'iters']);
          expectError(() => ol.ops.powerIteration({ weight: W.t } as unknown as ol.ops.PowerIterationOperator, u.t, { iters: 3 }), 'ERR_ARGUMENT', ['powerIteration', 'matrix', 'conv']);
          expectError(() => ol.ops.powerIteration(null as unknown as ol.ops.PowerIterationOperator, u.t, { iters: 3 }), 'ERR_ARGUMENT', ['powerIteration', 'op']);
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, randTensor([3], { device, dtype: 'float64' }).t, { iters: 3 }), 'ERR_DTYPE', ['power_iteration_dense', 'float64']);
          {
            const K = randTensor([4, 2, 3, 3], { device });
            expectError(() => ol.ops.powerIteration({ conv: K.t }, randTensor([1, 3, 5, 5], { device }).t, { iters: 2 }), 'ERR_SHAPE', ['power_iteration_conv', 'u', '[1, 2, H, W]']);
            expectError(() => ol.ops.powerIteration({ conv: K.t }, randTensor([2, 2, 5, 5], { device }).t, { iters: 2 }), 'ERR_SHAPE', ['power_iteration_conv', 'u']);
            expectError(() => ol.ops.powerIteration({ conv: K.t, padding: 0 }, randTensor([1, 2, 2, 2], { device }).t, { iters: 2 }), 'ERR_SHAPE', ['power_iteration_conv', 'smaller than the kernel']);
            expectError(() => ol.ops.powerIteration({ conv: K.t, stride: 0 }, randTensor([1, 2, 5, 5], { device }).t, { iters: 2 }), 'ERR_ARGUMENT', ['power_iteration_conv', 'stride']);
            expectError(() => ol.ops.powerIteration({ conv: K.t, bias: 1 } as unknown as ol.ops.PowerIterationOperator, randTensor([1, 2, 5, 5], { device }).t, { iters: 2 }), 'ERR_ARGUMENT', ['powerIteration', 'bias', 'padding']);
          }
          expect(Array.from(W.t.data())).toEqual(W.data);
          expect(Array.from(u.t.data())).toEqual(u.data);
        });
    });

    test('powerIteration: a zero or non-finite start vector, a non-finite W, float32 overflow → errors, never a NaN sigma', () => {
      for (const device of devices)
        ol.tidy(() => {
          const W = randTensor([4, 3], { device });
          const u = randTensor([3], { device });
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, ol.zeros([3], { device }), { iters: 3 }), 'ERR_ARGUMENT', ['power_iteration_dense', 'u', 'norm 0']);
          expectError(() => ol.ops.powerIteration({ matrix: W.t }, ol.tensor([1, NaN, 2], { device }), { iters: 3 }), 'ERR_ARGUMENT', ['power_iteration_dense', 'u', 'non-finite']);
          for (const bad of [NaN, Infinity, -Infinity]) {
            const data = [...W.data];
            data[5] = bad;
            expectError(() => ol.ops.powerIteration({ matrix: ol.tensor(data, { shape: [4, 3], device }) }, u.t, { iters: 3 }), 'ERR_ARGUMENT', ['power_iteration_dense', 'W', 'non-finite']);
          }
          const huge = ol.full([4, 3], 1e30, { device });
          expectError(() => ol.ops.powerIteration({ matrix: huge }, u.t, { iters: 2 }), 'ERR_ARGUMENT', ['power_iteration_dense', 'overflow', 'float64']);
          // the same in float64 is fine: W = w·(all ones), ‖W‖₂ = w·√12
          const r = ol.ops.powerIteration({ matrix: huge.astype('float64') }, u.t.astype('float64'), { iters: 2 });
          expect(Math.abs(r.sigma / (Math.fround(1e30) * Math.sqrt(12)) - 1)).toBeLessThan(1e-12);
        });
    });
  });

  test('successful calls next to the failing ones compute the right numbers (the test can tell)', () => {
    ol.tidy(() => {
      const a = randTensor([2, 3]);
      const b = randTensor([3]);
      const y = ol.ops.add(a.t, b.t).data();
      for (let i = 0; i < 6; i++) expect(y[i]).toBe(Math.fround(a.data[i] + b.data[i % 3]));
    });
  });
});
