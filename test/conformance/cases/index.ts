/**
 * Conformance cases for every registered op: variants (shapes, dtypes, attributes) with fresh random
 * inputs and a float64 reference from ../reference. Every op in `info().ops` must appear here; one
 * file per op family, named like native/cpu/<family>.cc and cuda/<family>.cu.
 */
import { Builder } from './common';
import { CASES as activations } from './activations';
import { CASES as conv2d } from './conv2d';
import { CASES as cpl } from './cpl';
import { CASES as creation } from './creation';
import { CASES as elementwise } from './elementwise';
import { CASES as fft } from './fft';
import { CASES as layout } from './layout';
import { CASES as linalgComplex } from './linalg_complex';
import { CASES as matmul } from './matmul';
import { CASES as optim } from './optim';
import { CASES as pooling } from './pooling';
import { CASES as reduce } from './reduce';
import { CASES as shuffle } from './shuffle';
import { CASES as sll } from './sll';
import { CASES as soc } from './soc';
import { CASES as spectral } from './spectral';

export { Builder, Expected, HostInput, Rng, Variant } from './common';
export const CASES: Record<string, Builder> = {
  ...elementwise,
  ...reduce,
  ...layout,
  ...creation,
  ...matmul,
  ...shuffle,
  ...pooling,
  ...conv2d,
  ...optim,
  ...spectral,
  ...sll,
  ...fft,
  ...linalgComplex,
  ...activations,
  ...cpl,
  ...soc,
};
