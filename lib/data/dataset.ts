/**
 * `Dataset`: uint8 images [N, C, H, W] + int32 labels in memory, per-channel statistics of the
 * training split, and `batches()`: a seeded, optionally augmented, prefetched batch iterator.
 */
import { Worker } from 'worker_threads';
import { check, OnelipError } from '../errors';
import { Device, Tensor } from '../tensor';
import { tensor } from '../ops/creation';
import { AugmentSpec, batchKernel, KernelAug } from './kernel';

const K = batchKernel();

export type Split = 'train' | 'test';

/** One batch: x [B, C, H, W] float32 in [0, 1] (not normalised: normalisation belongs to the model), y [B] int32. */
export interface Batch {
  x: Tensor;
  y: Tensor;
  /** The epoch and the batch index inside it (what `startBatch` takes to resume here). */
  epoch: number;
  index: number;
}

export interface BatchOptions {
  /** Samples per batch (the last batch may be smaller unless dropLast). */
  batchSize: number;
  /** Shuffle with a seeded permutation of the epoch (default true for the train split, false otherwise). */
  shuffle?: boolean;
  /** Seed of the permutation and of the augmentation (default 0). Same seed → same batches on any machine. */
  seed?: number;
  /** Which epoch to produce (default 0): it selects the permutation and the augmentation draws. */
  epoch?: number;
  /** First batch index to produce (default 0): resuming at (epoch, startBatch) yields the same batches as the uninterrupted run. */
  startBatch?: number;
  /** Augmentation (default none). See `augmentations` for the recipes' presets. */
  augment?: AugmentSpec | null;
  /** Device of x and y (default 'cpu'). */
  device?: Device;
  /** dtype of x: 'float32' (default) or 'float64'. */
  dtype?: 'float32' | 'float64';
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /**
   * How many batches a worker thread prepares ahead (default 2). 0 prepares each batch on the calling
   * thread when it is asked for. The batches are identical either way.
   */
  prefetch?: number;
}

/** Source of the training-split statistics when they are not this dataset's own pixels. */
export type StatsSource = () => Dataset;

export interface DatasetInit {
  name: string;
  split: Split;
  shape: [number, number, number];
  classes: number;
  images: Uint8Array;
  labels: Int32Array;
  classNames?: string[];
  /** The per-channel mean/std the reference implementations hard-code (SPEC.md §D.3), where known. */
  referenceMean?: number[];
  referenceStd?: number[];
  /** For a test split: loads the train split, whose statistics `mean`/`std` report. */
  trainSplit?: StatsSource;
}

/**
 * Images in memory with their labels. `images` is uint8 [length, C, H, W] (row-major, CHW per
 * image), `labels` int32 [length] in 0..classes−1.
 */
export class Dataset {
  readonly name: string;
  readonly split: Split;
  readonly shape: [number, number, number];
  readonly classes: number;
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly classNames?: string[];
  readonly referenceMean?: number[];
  readonly referenceStd?: number[];
  private readonly trainSplit?: StatsSource;
  private stats_?: { mean: number[]; std: number[] };

  constructor(init: DatasetInit) {
    this.name = init.name;
    this.split = init.split;
    this.shape = init.shape;
    this.classes = init.classes;
    this.images = init.images;
    this.labels = init.labels;
    this.classNames = init.classNames;
    this.referenceMean = init.referenceMean;
    this.referenceStd = init.referenceStd;
    this.trainSplit = init.trainSplit;
    const [c, h, w] = init.shape;
    check(init.images.length === init.labels.length * c * h * w, 'ERR_INTERNAL',
      `Dataset ${init.name}: ${init.images.length} pixel bytes for ${init.labels.length} images of [${init.shape}]`);
  }

  /** Number of images. */
  get length(): number {
    return this.labels.length;
  }

  /**
   * Per-channel mean of the pixels in [0, 1] over the TRAINING split (as the recipes compute it; a test
   * split loads its train split for this). float64, computed once.
   */
  get mean(): number[] {
    return this.stats().mean;
  }

  /** Per-channel (population) standard deviation over the training split; see `mean`. */
  get std(): number[] {
    return this.stats().std;
  }

  private stats(): { mean: number[]; std: number[] } {
    if (this.stats_) return this.stats_;
    if (this.split !== 'train' && this.trainSplit) {
      this.stats_ = this.trainSplit().stats();
      return this.stats_;
    }
    const [c, h, w] = this.shape;
    const plane = h * w;
    const n = this.length;
    const mean: number[] = [];
    const std: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      // byte histogram: exact sums whatever N is
      const hist = new Float64Array(256);
      for (let i = 0; i < n; i++) {
        const off = (i * c + ch) * plane;
        for (let j = 0; j < plane; j++) hist[this.images[off + j]]++;
      }
      let s = 0, s2 = 0;
      for (let v = 0; v < 256; v++) { s += hist[v] * v; s2 += hist[v] * v * v; }
      const cnt = n * plane;
      const m = s / cnt;
      mean.push(m / 255);
      std.push(Math.sqrt(Math.max(0, s2 / cnt - m * m)) / 255);
    }
    this.stats_ = { mean, std };
    return this.stats_;
  }

  /** How many batches one epoch has. */
  numBatches(batchSize: number, dropLast = false): number {
    return dropLast ? Math.floor(this.length / batchSize) : Math.ceil(this.length / batchSize);
  }

  /** Number of images of each class (length `classes`). */
  classCounts(): number[] {
    const out = new Array<number>(this.classes).fill(0);
    for (const l of this.labels) out[l]++;
    return out;
  }

  /**
   * One epoch of batches as a synchronous iterator (`for (const { x, y } of ds.batches({...}))`).
   * The caller owns each batch's tensors (dispose them, or run the step inside `ol.tidy`). With
   * `prefetch > 0` a worker thread decodes and augments the next batches into shared memory while the
   * current one trains; leaving the loop early (break/throw) stops the worker.
   * Cost per batch: O(B·C·H·W) on the worker plus one host → device copy.
   */
  batches(options: BatchOptions): BatchIterator {
    return new BatchIterator(this, options);
  }
}

function positiveInt(v: unknown, what: string, min = 1): number {
  check(Number.isInteger(v) && (v as number) >= min, 'ERR_ARGUMENT', `Dataset.batches: ${what} must be an integer >= ${min}, got ${String(v)}`);
  return v as number;
}

function range(v: number | [number, number] | undefined, what: string, center: number): [number, number] | null {
  if (v === undefined) return null;
  if (typeof v === 'number') {
    check(Number.isFinite(v) && v >= 0, 'ERR_ARGUMENT', `Dataset.batches: augment.jitter.${what} must be a finite number >= 0 or a [lo, hi] pair, got ${v}`);
    return v === 0 ? null : [Math.max(0, center - v), center + v];
  }
  check(Array.isArray(v) && v.length === 2 && v.every((e) => Number.isFinite(e)) && v[0] >= 0 && v[0] <= v[1], 'ERR_ARGUMENT',
    `Dataset.batches: augment.jitter.${what} must be a number or a pair [lo, hi] with 0 <= lo <= hi, got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

/** Validates an AugmentSpec against an image shape. */
export function resolveAugment(a: AugmentSpec | null | undefined, shape: [number, number, number]): KernelAug | null {
  if (a === undefined || a === null) return null;
  check(typeof a === 'object', 'ERR_ARGUMENT', `Dataset.batches: augment must be an object { crop?, flip?, jitter? }, got ${String(a)}`);
  const known = new Set(['crop', 'flip', 'jitter']);
  for (const k of Object.keys(a)) check(known.has(k), 'ERR_ARGUMENT', `Dataset.batches: unknown augment option '${k}' (supported: crop, flip, jitter)`);
  let pad = 0, reflect = true;
  if (a.crop) {
    pad = a.crop.padding;
    check(Number.isInteger(pad) && pad >= 0 && pad < Math.min(shape[1], shape[2]), 'ERR_ARGUMENT',
      `Dataset.batches: augment.crop.padding must be an integer in 0..${Math.min(shape[1], shape[2]) - 1} for images of [${shape}], got ${pad}`);
    const mode = a.crop.mode ?? 'reflect';
    check(mode === 'reflect' || mode === 'zero', 'ERR_ARGUMENT', `Dataset.batches: augment.crop.mode must be 'reflect' or 'zero', got ${String(mode)}`);
    reflect = mode === 'reflect';
  }
  const j = a.jitter ?? {};
  for (const k of Object.keys(j)) {
    check(k === 'brightness' || k === 'contrast' || k === 'saturation', 'ERR_UNSUPPORTED',
      `Dataset.batches: augment.jitter.${k} is not supported (supported: brightness, contrast, saturation)`);
  }
  return {
    pad, reflect, flip: !!a.flip,
    brightness: range(j.brightness, 'brightness', 1),
    contrast: range(j.contrast, 'contrast', 1),
    saturation: range(j.saturation, 'saturation', 1),
  };
}

/**
 * The prefetch worker: serves the slots round robin. ctrl[s] is 0 (free), 1 (requested: req[2s] =
 * first sample, req[2s+1] = count) or 2 (filled); ctrl[n] = 1 asks it to exit.
 */
const WORKER_SOURCE = `
const { workerData: d } = require('worker_threads');
const K = (${batchKernel.toString()})();
const [c, h, w] = d.shape;
const images = new Uint8Array(d.images);
const labels = new Int32Array(d.labels);
const order = new Int32Array(d.order);
const ctrl = new Int32Array(d.ctrl);
const req = new Int32Array(d.req);
const n = d.slots.length;
const size = c * h * w;
for (let s = 0; ; s = (s + 1) % n) {
  let v;
  while ((v = Atomics.load(ctrl, s)) !== 1) {
    if (Atomics.load(ctrl, n) === 1) process.exit(0);
    Atomics.wait(ctrl, s, v, 200);
  }
  const start = req[2 * s], count = req[2 * s + 1];
  K.fill(images, labels, c, h, w, order, start, count, d.aug, d.seed, d.epoch,
    new Float32Array(d.slots[s], 0, count * size), new Int32Array(d.slotLabels[s], 0, count));
  Atomics.store(ctrl, s, 2);
  Atomics.notify(ctrl, s);
}
`;

/** Copies into a SharedArrayBuffer (no copy when the view already covers one whole). */
const sharedCopies = new WeakMap<object, SharedArrayBuffer>();
function shared<T extends Uint8Array | Int32Array>(a: T): SharedArrayBuffer {
  if (a.buffer instanceof SharedArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) return a.buffer;
  let sab = sharedCopies.get(a);
  if (!sab) {
    // once per array (the images of a dataset built from plain arrays); later edits of `a` are not seen
    sab = new SharedArrayBuffer(a.byteLength);
    new Uint8Array(sab).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    sharedCopies.set(a, sab);
  }
  return sab;
}

/** The iterator `Dataset.batches()` returns (one epoch). */
export class BatchIterator implements IterableIterator<Batch> {
  /** Batches this iterator yields in total (from startBatch to the end of the epoch). */
  readonly length: number;
  private readonly ds: Dataset;
  private readonly batchSize: number;
  private readonly total: number;
  private next_: number;
  private readonly seed: number;
  private readonly epoch: number;
  private readonly aug: KernelAug | null;
  private readonly device: Device;
  private readonly dtype: 'float32' | 'float64';
  private readonly order: Int32Array;
  private readonly depth: number;
  private worker?: Worker;
  private ctrl?: Int32Array;
  private req?: Int32Array;
  private slots: SharedArrayBuffer[] = [];
  private slotLabels: SharedArrayBuffer[] = [];
  private done = false;
  /** Host staging buffers, reused: tensor() copies them into native memory at once. */
  private readonly stage: Float32Array;
  private readonly stageLabels: Int32Array;

  constructor(ds: Dataset, o: BatchOptions) {
    check(o !== null && typeof o === 'object', 'ERR_ARGUMENT', 'Dataset.batches: options { batchSize, ... } are required');
    this.ds = ds;
    this.batchSize = positiveInt(o.batchSize, 'batchSize');
    this.seed = o.seed === undefined ? 0 : positiveInt(o.seed, 'seed', 0);
    this.epoch = o.epoch === undefined ? 0 : positiveInt(o.epoch, 'epoch', 0);
    const start = o.startBatch === undefined ? 0 : positiveInt(o.startBatch, 'startBatch', 0);
    this.total = ds.numBatches(this.batchSize, !!o.dropLast);
    check(start <= this.total, 'ERR_ARGUMENT', `Dataset.batches: startBatch ${start} is past the end of the epoch (${this.total} batches)`);
    this.next_ = start;
    this.length = this.total - start;
    this.aug = resolveAugment(o.augment, ds.shape);
    this.device = o.device ?? 'cpu';
    check(this.device === 'cpu' || this.device === 'cuda', 'ERR_DEVICE', `Dataset.batches: device must be 'cpu' or 'cuda', got ${String(o.device)}`);
    this.dtype = o.dtype ?? 'float32';
    check(this.dtype === 'float32' || this.dtype === 'float64', 'ERR_DTYPE', `Dataset.batches: dtype must be 'float32' or 'float64', got ${String(o.dtype)}`);
    this.depth = o.prefetch === undefined ? 2 : positiveInt(o.prefetch, 'prefetch', 0);
    this.stage = new Float32Array(this.batchSize * ds.shape[0] * ds.shape[1] * ds.shape[2]);
    this.stageLabels = new Int32Array(this.batchSize);
    const shuffle = o.shuffle ?? ds.split === 'train';
    this.order = K.order(ds.length, shuffle, this.seed, this.epoch);
    if (this.depth > 0 && this.length > 1) this.startWorker();
  }

  private count(b: number): number {
    return Math.min(this.batchSize, this.ds.length - b * this.batchSize);
  }

  private startWorker(): void {
    const [c, h, w] = this.ds.shape;
    const size = c * h * w;
    const n = Math.min(this.depth, this.length);
    for (let s = 0; s < n; s++) {
      this.slots.push(new SharedArrayBuffer(this.batchSize * size * 4));
      this.slotLabels.push(new SharedArrayBuffer(this.batchSize * 4));
    }
    const ctrlBuf = new SharedArrayBuffer(4 * (n + 1));
    const reqBuf = new SharedArrayBuffer(8 * n);
    this.ctrl = new Int32Array(ctrlBuf);
    this.req = new Int32Array(reqBuf);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        shape: this.ds.shape, images: shared(this.ds.images), labels: shared(this.ds.labels), order: shared(this.order),
        ctrl: ctrlBuf, req: reqBuf, slots: this.slots, slotLabels: this.slotLabels, aug: this.aug, seed: this.seed, epoch: this.epoch,
      },
    });
    this.worker.unref();
    for (let i = 0; i < n; i++) this.request(this.next_ + i);
  }

  private request(b: number): void {
    if (b >= this.total) return;
    const slot = b % this.slots.length;
    this.req![2 * slot] = b * this.batchSize;
    this.req![2 * slot + 1] = this.count(b);
    Atomics.store(this.ctrl!, slot, 1);
    Atomics.notify(this.ctrl!, slot);
  }

  next(): IteratorResult<Batch> {
    if (this.done || this.next_ >= this.total) {
      this.stop();
      return { done: true, value: undefined };
    }
    const b = this.next_++;
    const count = this.count(b);
    const [c, h, w] = this.ds.shape;
    const size = c * h * w;
    let data: Float32Array;
    let labs: Int32Array;
    if (this.worker) {
      const slot = b % this.slots.length;
      // the worker sets ctrl[slot] = 2 when the batch is in the slot
      const t0 = Date.now();
      while (Atomics.load(this.ctrl!, slot) !== 2) {
        Atomics.wait(this.ctrl!, slot, 1, 1000);
        if (Atomics.load(this.ctrl!, slot) !== 2 && Date.now() - t0 > 120000) {
          this.stop();
          throw new OnelipError('ERR_INTERNAL', `Dataset.batches: the prefetch worker produced no batch in 120 s (batch ${b} of ${this.ds.name}); retry with prefetch: 0`);
        }
      }
      // staged through reused plain arrays: the native side takes only non-shared memory
      data = this.stage.subarray(0, count * size);
      data.set(new Float32Array(this.slots[slot], 0, count * size));
      labs = this.stageLabels.subarray(0, count);
      labs.set(new Int32Array(this.slotLabels[slot], 0, count));
    } else {
      data = this.stage.subarray(0, count * size);
      labs = this.stageLabels.subarray(0, count);
      K.fill(this.ds.images, this.ds.labels, c, h, w, this.order, b * this.batchSize, count, this.aug, this.seed, this.epoch, data, labs);
    }
    let x = tensor(data, { shape: [count, c, h, w], device: this.device });
    if (this.dtype === 'float64') {
      const x64 = x.astype('float64');
      x.dispose();
      x = x64;
    }
    const y = tensor(labs, { shape: [count], device: this.device });
    // the tensors hold copies: the slot can be refilled now
    if (this.worker) this.request(b + this.slots.length);
    return { done: false, value: { x, y, epoch: this.epoch, index: b } };
  }

  /** Stops early and ends the worker (called by `for…of` on break). */
  return(): IteratorResult<Batch> {
    this.stop();
    return { done: true, value: undefined };
  }

  private stop(): void {
    this.done = true;
    if (this.worker) {
      Atomics.store(this.ctrl!, this.slots.length, 1);
      for (let s = 0; s < this.slots.length; s++) Atomics.notify(this.ctrl!, s);
      void this.worker.terminate();
      this.worker = undefined;
    }
  }

  [Symbol.iterator](): IterableIterator<Batch> {
    return this;
  }
}
