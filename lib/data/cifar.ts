/**
 * CIFAR-10 / CIFAR-100 from the official binary files in a directory the user gives (onelip downloads
 * nothing). CIFAR-10: data_batch_1..5.bin (train) and test_batch.bin, records of 1 label byte + 3072
 * pixel bytes (1024 R, 1024 G, 1024 B, rows top to bottom: already CHW). CIFAR-100: train.bin and
 * test.bin, records of 2 label bytes (coarse, fine) + 3072 pixel bytes. The directory may be the one
 * holding the files or the one holding the tarball's folder (`cifar-10-batches-bin/`, `cifar-100-binary/`).
 */
import * as fs from 'fs';
import * as path from 'path';
import { check, OnelipError } from '../errors';
import { Dataset, Split } from './dataset';

/** Per-channel constants the reference implementations hard-code (SPEC.md §D.3). */
export const CIFAR10_MEAN = [0.4914, 0.4822, 0.4465];
export const CIFAR10_STD = [0.2470, 0.2435, 0.2616];
export const CIFAR100_MEAN = [0.5071, 0.4865, 0.4409];
export const CIFAR100_STD = [0.2673, 0.2564, 0.2762];
/** SOC / IMP repos: one std for all channels. */
export const SOC_STD = [0.2507, 0.2507, 0.2507];

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const PIXELS = 3072;

interface Layout {
  fn: string;
  sub: string;
  files: Record<Split, string[]>;
  labelBytes: number;
  /** Which label byte is the class, and how many classes it has. */
  labelIndex: number;
  classes: number;
}

function resolveDir(dir: unknown, layout: Layout): string {
  check(typeof dir === 'string' && dir.length > 0, 'ERR_ARGUMENT', `${layout.fn}: dir must be the path of the directory holding the official binary files, got ${String(dir)}`);
  const nested = path.join(dir, layout.sub);
  if (fs.existsSync(path.join(nested, layout.files.test[0])) || fs.existsSync(path.join(nested, layout.files.train[0]))) return nested;
  return dir;
}

function readSplit(dir: string, layout: Layout, split: Split): { images: Uint8Array; labels: Int32Array } {
  const rec = layout.labelBytes + PIXELS;
  const bufs: { file: string; buf: Buffer }[] = [];
  for (const name of layout.files[split]) {
    const file = path.join(dir, name);
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      throw new OnelipError('ERR_DATASET', `${layout.fn}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected the official binary files ${[...layout.files.train, ...layout.files.test].join(', ')} in ${dir} or in ${path.join(dir, layout.sub)}`);
    }
    check(buf.length > 0 && buf.length % rec === 0, 'ERR_DATASET',
      `${layout.fn}: ${file} has ${buf.length} bytes, expected a non-zero multiple of the record size ${rec} (${layout.labelBytes} label byte${layout.labelBytes > 1 ? 's' : ''} + ${PIXELS} pixels; the official file has 10000 records = ${rec * 10000} bytes)`);
    bufs.push({ file, buf });
  }
  const n = bufs.reduce((a, b) => a + b.buf.length / rec, 0);
  const images = new Uint8Array(new SharedArrayBuffer(n * PIXELS));
  const labels = new Int32Array(new SharedArrayBuffer(4 * n));
  let i = 0;
  for (const { file, buf } of bufs) {
    const m = buf.length / rec;
    for (let r = 0; r < m; r++, i++) {
      const off = r * rec;
      if (layout.labelBytes === 2) {
        check(buf[off] < 20, 'ERR_DATASET', `${layout.fn}: ${file} record ${r}: coarse label ${buf[off]} out of range (expected 0..19)`);
        check(buf[off + 1] < 100, 'ERR_DATASET', `${layout.fn}: ${file} record ${r}: fine label ${buf[off + 1]} out of range (expected 0..99)`);
      }
      const l = buf[off + layout.labelIndex];
      check(l < layout.classes, 'ERR_DATASET', `${layout.fn}: ${file} record ${r}: label ${l} out of range (expected 0..${layout.classes - 1})`);
      labels[i] = l;
      images.set(buf.subarray(off + layout.labelBytes, off + rec), i * PIXELS);
    }
  }
  return { images, labels };
}

function checkSplit(opts: { split?: Split } | undefined, fn: string): Split {
  check(opts === undefined || (opts !== null && typeof opts === 'object'), 'ERR_ARGUMENT', `${fn}: options must be an object { split }`);
  const split = opts?.split ?? 'train';
  check(split === 'train' || split === 'test', 'ERR_ARGUMENT', `${fn}: split must be 'train' or 'test', got ${String(split)}`);
  return split;
}

function build(dir: string, layout: Layout, split: Split, mean: number[], std: number[], classNames?: string[]): Dataset {
  const d = resolveDir(dir, layout);
  const { images, labels } = readSplit(d, layout, split);
  return new Dataset({
    name: layout.fn.replace('data.', ''), split, shape: [3, 32, 32], classes: layout.classes, images, labels, classNames,
    referenceMean: mean, referenceStd: std,
    trainSplit: split === 'test' ? () => build(dir, layout, 'train', mean, std, classNames) : undefined,
  });
}

/**
 * CIFAR-10 (3×32×32, 10 classes; official split 50 000 / 10 000) from the official binary version
 * (`cifar-10-binary.tar.gz`, extracted) in `dir`. `mean`/`std` are computed on the train split
 * (reading the train files if this is the test split); `referenceMean`/`referenceStd` are the constants of
 * SPEC.md §D.3. Cost: reads the files (~150 MB for train).
 */
export function cifar10(dir: string, opts?: { split?: Split }): Dataset {
  const split = checkSplit(opts, 'data.cifar10');
  return build(dir, {
    fn: 'data.cifar10', sub: 'cifar-10-batches-bin', labelBytes: 1, labelIndex: 0, classes: 10,
    files: { train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`), test: ['test_batch.bin'] },
  }, split, CIFAR10_MEAN, CIFAR10_STD, CIFAR10_CLASSES);
}

/**
 * CIFAR-100 (3×32×32; official split 50 000 / 10 000) from the official binary version
 * (`cifar-100-binary.tar.gz`, extracted) in `dir`. `label: 'fine'` (default, 100 classes) or
 * `'coarse'` (20 superclasses). Otherwise as `cifar10`.
 */
export function cifar100(dir: string, opts?: { split?: Split; label?: 'fine' | 'coarse' }): Dataset {
  const split = checkSplit(opts, 'data.cifar100');
  const label = opts?.label ?? 'fine';
  check(label === 'fine' || label === 'coarse', 'ERR_ARGUMENT', `data.cifar100: label must be 'fine' or 'coarse', got ${String(label)}`);
  return build(dir, {
    fn: 'data.cifar100', sub: 'cifar-100-binary', labelBytes: 2, labelIndex: label === 'fine' ? 1 : 0, classes: label === 'fine' ? 100 : 20,
    files: { train: ['train.bin'], test: ['test.bin'] },
  }, split, CIFAR100_MEAN, CIFAR100_STD);
}
