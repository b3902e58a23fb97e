/** Elementwise ops. Binary ops broadcast like numpy; a number operand becomes a 0-d tensor. */
import { Tensor } from '../tensor';
import { asTensor, requireTensor, run1 } from './run';

function binary(op: string, a: Tensor | number, b: Tensor | number): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : requireTensor(a, op, 'a');
  const x = asTensor(a, like, op, 'a');
  const y = asTensor(b, like, op, 'b');
  try {
    return run1(op, [x.t, y.t]);
  } finally {
    if (x.temp) x.t.dispose();
    if (y.temp) y.t.dispose();
  }
}

/** a + b (float32, float64, int32). */
export const add = (a: Tensor | number, b: Tensor | number): Tensor => binary('add', a, b);
/** a − b (float32, float64, int32). */
export const sub = (a: Tensor | number, b: Tensor | number): Tensor => binary('sub', a, b);
/** a · b (float32, float64, int32). */
export const mul = (a: Tensor | number, b: Tensor | number): Tensor => binary('mul', a, b);
/** a / b (float32, float64). */
export const div = (a: Tensor | number, b: Tensor | number): Tensor => binary('div', a, b);

const unary = (op: string) => (x: Tensor): Tensor => run1(op, [requireTensor(x, op, 'x')]);
/** −x */
export const neg = unary('neg');
/** |x| */
export const abs = unary('abs');
/** eˣ */
export const exp = unary('exp');
/** ln x */
export const log = unary('log');
/** √x */
export const sqrt = unary('sqrt');
/** max(x, 0) (NaN stays NaN) */
export const relu = unary('relu');

/** alpha · x + beta */
export function scale(x: Tensor, alpha: number, beta = 0): Tensor {
  return run1('scale', [requireTensor(x, 'scale', 'x')], { alpha, beta });
}

/** x limited to [min, max]; omit a bound with undefined. NaN stays NaN. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  return run1('clamp', [requireTensor(x, 'clamp', 'x')], { min, max });
}
