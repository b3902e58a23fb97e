/**
 * Prefetch benchmark (docs/DATA.md): one epoch of a small conv net training step fed by
 * `Dataset.batches()` with and without the prefetch worker, plus the data pipeline alone.
 * `node -e "require('./dist/data/bench').benchPrefetch()"`. Prints images/s per configuration.
 */
import '../ops';  // registers every op's gradient entry (reshape's included)
import { tidy } from '../tensor';
import { Conv2d, Flatten, Linear, ReLU, Sequential } from '../nn/layers';
import { crossEntropy } from '../nn/loss';
import { AugmentSpec } from './kernel';
import { Dataset } from './dataset';
import { fashionMnist } from './mnist';

/** images/s of the whole loop, and the ms per batch the loop spent waiting inside next(). */
function epoch(ds: Dataset, net: Sequential | null, batchSize: number, prefetch: number, augment: AugmentSpec | null, limit: number): [number, number, number] {
  const t0 = process.hrtime.bigint();
  let n = 0, batches = 0;
  let waited = 0n;
  let first = 0n;
  const it = ds.batches({ batchSize, seed: 1, prefetch, augment });
  for (;;) {
    const w0 = process.hrtime.bigint();
    const r = it.next();
    if (batches === 0) first = process.hrtime.bigint() - w0;
    else waited += process.hrtime.bigint() - w0;
    if (r.done) break;
    const { x, y } = r.value;
    if (net) {
      tidy(() => {
        net.zeroGrad();
        crossEntropy(net.forward(x), y).backward();
      });
    }
    n += x.shape[0];
    batches++;
    x.dispose();
    y.dispose();
    if (n >= limit) {
      it.return();
      break;
    }
  }
  return [n / (Number(process.hrtime.bigint() - t0) / 1e9), Number(waited) / 1e6 / (batches - 1), Number(first) / 1e6];
}

/** Runs the comparison (each configuration `reps` times, alternating) and prints a table. */
export function benchPrefetch(reps = 2): void {
  const fm = fashionMnist({ split: 'train' });
  const n = 20000;
  const size = 3 * 32 * 32;
  const images = new Uint8Array(n * size);
  let s = 12345;
  for (let i = 0; i < images.length; i++) { s = (s * 1103515245 + 12345) >>> 0; images[i] = s >>> 24; }
  const cifarLike = new Dataset({ name: 'cifar-shaped', split: 'train', shape: [3, 32, 32], classes: 10, images, labels: Int32Array.from({ length: n }, (_, i) => i % 10) });
  const sll: AugmentSpec = { crop: { padding: 4, mode: 'reflect' }, flip: true, jitter: { brightness: 0.1, contrast: [0.5, 2], saturation: [0.3, 2] } };
  const netFor = (c: number, hw: number) => new Sequential([new Conv2d(c, 8, { kernelSize: 3 }), new ReLU(), new Flatten(), new Linear(8 * hw * hw, 10)]);
  const configs: [string, Dataset, number, AugmentSpec | null, number][] = [
    ['fashion-mnist, no augmentation, batch 256', fm, 256, null, 28],
    ['cifar-shaped, sll augmentation, batch 64', cifarLike, 64, sll, 32],
  ];
  for (const [name, ds, bs, aug, hw] of configs) {
    const net = netFor(ds.shape[0], hw);
    const limit = 25600;
    epoch(ds, net, bs, 2, aug, bs * 4);  // warm-up
    const res: Record<string, [number, number, number][]> = { 'data only, prefetch 0': [], 'data only, prefetch 2': [], 'train step, prefetch 0': [], 'train step, prefetch 2': [] };
    for (let r = 0; r < reps; r++) {
      for (const pf of [0, 2]) res[`data only, prefetch ${pf}`].push(epoch(ds, null, bs, pf, aug, limit));
      for (const pf of [0, 2]) res[`train step, prefetch ${pf}`].push(epoch(ds, net, bs, pf, aug, limit));
    }
    // eslint-disable-next-line no-console
    console.log(`${name} (${limit} images per run; each run: images/s, ms per batch waiting in next() after the first, the first batch's wait)`);
    for (const [k, v] of Object.entries(res)) console.log(`  ${k.padEnd(24)} ${v.map(([a, b, f]) => `${a.toFixed(0)} img/s ${b.toFixed(2)} ms (1st ${f.toFixed(0)} ms)`).join(' | ')}`);
    net.dispose();
  }
}
