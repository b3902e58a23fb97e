/** The Tensor API: creation, host round trips, views, tidy/dispose lifecycle, info(). */
import * as ol from '../lib';

const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

describe('info()', () => {
  test('reports both backends and the op lists', () => {
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(['cpu', 'cuda', 'emu']).toContain(info.addon);
    expect(info.backends.cpu.threads).toBeGreaterThanOrEqual(1);
    expect(['avx512', 'avx2', 'portable']).toContain(info.backends.cpu.simd);
    expect(typeof info.backends.cuda.available).toBe('boolean');
    expect(info.ops.cpu).toEqual(expect.arrayContaining(['add', 'sum', 'permute', 'rand']));
    if (!info.backends.cuda.available) expect(info.backends.cuda.reason).toMatch(/\w/);
  });

  test('the emulated build exposes the cuda device', () => {
    if (process.env.ONELIP_ADDON !== 'emu') return;
    expect(info.addon).toBe('emu');
    expect(info.backends.cuda).toMatchObject({ available: true, emulated: true });
    expect(info.backends.cuda.devices.length).toBe(1);
  });

  test('setNumThreads changes the pool and validates', () => {
    const before = ol.info().backends.cpu.threads;
    ol.setNumThreads(1);
    expect(ol.info().backends.cpu.threads).toBe(1);
    const x = ol.rand([1000], { seed: 3 });
    const s1 = ol.ops.sum(x).item();
    ol.setNumThreads(2);
    expect(ol.ops.sum(x).item()).toBeCloseTo(s1, 3);
    ol.setNumThreads(before);
    expect(() => ol.setNumThreads(0)).toThrow(ol.OnelipError);
    expect(() => ol.setNumThreads(1.5)).toThrow(/integer/);
  });
});

describe.each(devices)('tensors on %s', (device) => {
  test('nested arrays round-trip with shape and dtype', () => {
    const data = [[1.5, -2.25, 3], [4, 5.5, -6]];
    const t = ol.tensor(data, { device });
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.device).toBe(device);
    expect(t.toArray()).toEqual(data);
    const i = ol.tensor([[7, -8], [9, 10]], { dtype: 'int32', device });
    expect(i.data()).toEqual(new Int32Array([7, -8, 9, 10]));
    const d = ol.tensor(new Float64Array([Math.PI, Math.E]), { device });
    expect(d.dtype).toBe('float64');
    expect(Array.from(d.data())).toEqual([Math.PI, Math.E]);
    expect(ol.tensor(2.5, { device }).item()).toBe(2.5);
    expect(ol.tensor(2.5, { device }).shape).toEqual([]);
    for (const x of [t, i, d]) x.dispose();
  });

  test('to() moves data between devices exactly', () => {
    const a = ol.randn([17, 5], { seed: 11, device, dtype: 'float64' });
    const b = a.to('cpu');
    const c = b.to(device);
    expect(Array.from(c.data())).toEqual(Array.from(a.data()));
    expect(b.device).toBe('cpu');
    [a, b, c].forEach((x) => x.dispose());
  });

  test('reshape is a view with -1 inference; astype converts', () => {
    const a = ol.rand([4, 6], { seed: 5, device });
    const v = a.reshape([2, -1, 3]);
    expect(v.shape).toEqual([2, 4, 3]);
    expect(Array.from(v.data())).toEqual(Array.from(a.data()));
    a.dispose();
    expect(v.data().length).toBe(24);  // the view keeps the storage alive
    expect(() => v.reshape([5, 5])).toThrow(/reshape/);
    const i = ol.tensor([1.9, -1.9, 2.5], { device }).astype('int32');
    expect(Array.from(i.data())).toEqual([1, -1, 2]);
    v.dispose();
    i.dispose();
  });

  test('zeros / ones / full', () => {
    expect(Array.from(ol.zeros([2, 2], { device }).data())).toEqual([0, 0, 0, 0]);
    expect(Array.from(ol.ones([3], { device, dtype: 'int32' }).data())).toEqual([1, 1, 1]);
    expect(Array.from(ol.full([2], -3.5, { device, dtype: 'float64' }).data())).toEqual([-3.5, -3.5]);
  });
});

describe('lifecycle', () => {
  test('dispose() is idempotent and use after dispose is a clear error', () => {
    const t = ol.rand([3]);
    t.dispose();
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expect(() => t.data()).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    expect(() => ol.ops.add(t, t)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });

  test('tidy disposes everything except what is returned, and nests', () => {
    let inner: ol.Tensor | undefined;
    let temp: ol.Tensor | undefined;
    const out = ol.tidy(() => {
      temp = ol.rand([4], { seed: 1 });
      const r = ol.tidy(() => {
        inner = ol.ops.exp(temp!);
        return { keep: ol.ops.add(inner, 1) };
      });
      expect(inner!.isDisposed).toBe(true);
      return [r.keep];
    });
    expect(temp!.isDisposed).toBe(true);
    expect(out[0].isDisposed).toBe(false);
    expect(out[0].data().length).toBe(4);
    out[0].dispose();
  });

  test('tidy disposes on throw and rejects async functions', () => {
    let t: ol.Tensor | undefined;
    expect(() =>
      ol.tidy(() => {
        t = ol.rand([2]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(t!.isDisposed).toBe(true);
    expect(() => ol.tidy((async () => 1) as unknown as () => number)).toThrow(/synchronous/);
  });

  test('native memory is reported to V8 and released', () => {
    const reported = () => ol.info().externalMemoryBytes;
    const before = reported();
    const big = ol.zeros([16, 1024, 1024]);  // 64 MiB
    const view = big.reshape([-1]);         // a view adds nothing
    expect(reported() - before).toBe(64 * 2 ** 20);
    big.dispose();
    view.dispose();
    expect(reported()).toBe(before);
  });
});

describe('Tensor.version (change detection for eval caches)', () => {
  test('bumped by assign, loadStateDict, Module.to, optimizer steps and markChanged; not by reads or out-of-place ops', () => {
    const lin = new ol.nn.Linear(3, 2, { seed: 1 });
    const w = lin.parameters()[0];
    const fp0 = ol.versionsOf(lin.parameters());
    const v0 = w.version;
    ol.tidy(() => {
      w.data();
      ol.ops.add(w, w);
    });
    expect(w.version).toBe(v0);
    expect(ol.versionsOf(lin.parameters())).toBe(fp0);
    w.assign(ol.randn(w.shape, { seed: 2 }));
    expect(w.version).toBe(v0 + 1);
    const copy = Object.fromEntries(Object.entries(lin.stateDict()).map(([k, t]) => [k, t.to('cpu')]));
    lin.loadStateDict(copy);
    expect(w.version).toBe(v0 + 2);
    w.markChanged();
    expect(w.version).toBe(v0 + 3);
    const opt = new ol.optim.SGD(lin.parameters(), { lr: 0.1, momentum: 0.9 });
    ol.tidy(() => {
      const y = lin.forward(ol.randn([4, 3], { seed: 3 }));
      ol.ops.sum(ol.ops.mul(y, y)).backward();
    });
    const before = ol.versionsOf(lin.parameters());
    opt.step();
    expect(w.version).toBe(v0 + 4);
    expect(ol.versionsOf(lin.parameters())).not.toBe(before);
    if (devices.includes('cuda')) {
      lin.to('cuda');
      expect(w.version).toBe(v0 + 5);
    }
    for (const t of Object.values(copy)) t.dispose();
    lin.dispose();
  });
});
