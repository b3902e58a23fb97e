/**
 * The batch kernel of `ol.data`: seeded random numbers, the epoch permutation and the decode +
 * augment of one batch (uint8 CHW images → float32 in [0, 1]). Everything lives inside
 * `batchKernel()` with no outside references so that the prefetch worker can run the very same code
 * (its source is `batchKernel.toString()`): a batch is bit-identical with or without prefetch.
 */

/** Augmentation applied per sample, in this order: crop, flip, colour jitter. */
export interface AugmentSpec {
  /** Pad by `padding` pixels on each side (reflect: mirror without repeating the edge; zero) and crop back at a random offset. */
  crop?: { padding: number; mode?: 'reflect' | 'zero' };
  /** Horizontal flip with probability 1/2. */
  flip?: boolean;
  /**
   * Colour jitter (torchvision ColorJitter semantics, hue excepted), the three applied in a random
   * order per sample, each clamped to [0, 1]. A number b means a factor drawn uniformly in
   * [max(0, 1 − b), 1 + b]; a pair [lo, hi] is the range itself.
   */
  jitter?: { brightness?: number | [number, number]; contrast?: number | [number, number]; saturation?: number | [number, number] };
}

/** The resolved (validated) form that the kernel consumes. */
export interface KernelAug {
  pad: number;
  reflect: boolean;
  flip: boolean;
  /** [lo, hi] ranges or null. */
  brightness: [number, number] | null;
  contrast: [number, number] | null;
  saturation: [number, number] | null;
}

export interface BatchKernel {
  /** A 32-bit seed mixed from several non-negative integers (order matters). */
  seedOf(...parts: number[]): number;
  /** mulberry32 uniform generator in [0, 1). */
  rng(seed: number): () => number;
  /** The order of the samples in epoch `epoch` (identity when !shuffle). */
  order(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array;
  /**
   * Fills out[B·C·H·W] and labelsOut[B] with samples order[start .. start + B). Sample at epoch position p
   * draws its augmentation from rng(seedOf(seed, epoch, p)).
   */
  fill(images: Uint8Array, labels: Int32Array, c: number, h: number, w: number, order: Int32Array, start: number, count: number,
    aug: KernelAug | null, seed: number, epoch: number, out: Float32Array, labelsOut: Int32Array): void;
}

export function batchKernel(): BatchKernel {
  function mix(h: number, v: number): number {
    // murmur3-style 32-bit mixing of one more word into h
    let k = Math.imul(v >>> 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    return h;
  }
  function seedOf(...parts: number[]): number {
    let h = 0x2545f491;
    for (const p of parts) {
      h = mix(h, p % 4294967296);
      h = mix(h, Math.floor(p / 4294967296));
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      let t = (a = (a + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function order(n: number, shuffle: boolean, seed: number, epoch: number): Int32Array {
    const o = new Int32Array(n);
    for (let i = 0; i < n; i++) o[i] = i;
    if (!shuffle) return o;
    const r = rng(seedOf(seed, epoch, 0x5eed));
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      const t = o[i]; o[i] = o[j]; o[j] = t;
    }
    return o;
  }
  const clamp01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);
  function fill(images: Uint8Array, labels: Int32Array, c: number, h: number, w: number, ord: Int32Array, start: number, count: number,
    aug: KernelAug | null, seed: number, epoch: number, out: Float32Array, labelsOut: Int32Array): void {
    const plane = h * w;
    const size = c * plane;
    const inv = 1 / 255;
    for (let b = 0; b < count; b++) {
      const idx = ord[start + b];
      labelsOut[b] = labels[idx];
      const src = idx * size;
      const dst = b * size;
      if (!aug) {
        for (let i = 0; i < size; i++) out[dst + i] = images[src + i] * inv;
        continue;
      }
      const r = rng(seedOf(seed, epoch, start + b));
      const p = aug.pad;
      const ox = p > 0 ? Math.floor(r() * (2 * p + 1)) : 0;
      const oy = p > 0 ? Math.floor(r() * (2 * p + 1)) : 0;
      const flip = aug.flip && r() < 0.5;
      // out[y][x] = padded[y + oy][x' + ox] with x' = flip ? w−1−x : x; padded index q ↔ source q − p
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < h; y++) {
          let sy = y + oy - p;
          let rowZero = false;
          if (sy < 0 || sy >= h) {
            if (aug.reflect) sy = sy < 0 ? -sy : 2 * (h - 1) - sy;
            else rowZero = true;
          }
          const o = dst + ch * plane + y * w;
          const srow = src + ch * plane + sy * w;
          for (let x = 0; x < w; x++) {
            let sx = (flip ? w - 1 - x : x) + ox - p;
            if (rowZero) { out[o + x] = 0; continue; }
            if (sx < 0 || sx >= w) {
              if (aug.reflect) sx = sx < 0 ? -sx : 2 * (w - 1) - sx;
              else { out[o + x] = 0; continue; }
            }
            out[o + x] = images[srow + sx] * inv;
          }
        }
      }
      if (!aug.brightness && !aug.contrast && !aug.saturation) continue;
      const fB = aug.brightness ? aug.brightness[0] + r() * (aug.brightness[1] - aug.brightness[0]) : 1;
      const fC = aug.contrast ? aug.contrast[0] + r() * (aug.contrast[1] - aug.contrast[0]) : 1;
      const fS = aug.saturation ? aug.saturation[0] + r() * (aug.saturation[1] - aug.saturation[0]) : 1;
      // random order of the three (torchvision draws a permutation per call)
      const steps = [0, 1, 2];
      for (let i = 2; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        const t = steps[i]; steps[i] = steps[j]; steps[j] = t;
      }
      for (const s of steps) {
        if (s === 0 && aug.brightness) {
          for (let i = 0; i < size; i++) out[dst + i] = clamp01(out[dst + i] * fB);
        } else if (s === 1 && aug.contrast) {
          // blend with the mean of the grayscale image (ITU-R 601 weights for RGB)
          let m = 0;
          if (c === 3) {
            for (let i = 0; i < plane; i++) m += 0.299 * out[dst + i] + 0.587 * out[dst + plane + i] + 0.114 * out[dst + 2 * plane + i];
            m /= plane;
          } else {
            for (let i = 0; i < size; i++) m += out[dst + i];
            m /= size;
          }
          for (let i = 0; i < size; i++) out[dst + i] = clamp01(fC * out[dst + i] + (1 - fC) * m);
        } else if (s === 2 && aug.saturation && c === 3) {
          for (let i = 0; i < plane; i++) {
            const R = out[dst + i], G = out[dst + plane + i], B = out[dst + 2 * plane + i];
            const g = 0.299 * R + 0.587 * G + 0.114 * B;
            out[dst + i] = clamp01(fS * R + (1 - fS) * g);
            out[dst + plane + i] = clamp01(fS * G + (1 - fS) * g);
            out[dst + 2 * plane + i] = clamp01(fS * B + (1 - fS) * g);
          }
        }
      }
    }
  }
  return { seedOf, rng, order, fill };
}
