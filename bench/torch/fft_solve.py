"""PyTorch reference for `onelip bench kernels`: the FFT and batched complex solve rows.

  rfft2+irfft2 of x [64, 64, 32, 32] (float32 and float64): torch.fft.irfft2(torch.fft.rfft2(x), s=(32, 32))
  torch.linalg.solve(A, B) with A = I + 0.1*randn/sqrt(n) complex, B [batch, n, n] (k = n):
      batch 528 n 64 (complex64, complex128), batch 16 n 256 and n 512 (complex64)
  torch.linalg.inv(A) for the same complex64 shapes

Usage: python3 bench/torch/fft_solve.py THREADS [REPEATS]
Prints one JSON line {name: median seconds}; names match lib/bench/kernels.ts's rows (kernel + shape).
Used only by the benchmark when PyTorch happens to be installed; never a dependency of onelip.
"""
import json
import sys

import torch

from harness import median_time



def near_identity(batch, n, dtype):
    a = torch.randn(batch, n, n, dtype=dtype) * (0.1 / n ** 0.5)
    return a + torch.eye(n, dtype=dtype)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    out = {}
    with torch.no_grad():
        for dt, tag in ((torch.float32, 'f32'), (torch.float64, 'f64')):
            x = torch.randn(64, 64, 32, 32, dtype=dt)
            out[f'rfft2+irfft2 {tag} [64, 64, 32, 32]'] = median_time(
                lambda: torch.fft.irfft2(torch.fft.rfft2(x), s=(32, 32)), repeats)
        for batch, n, dt, tag in ((528, 64, torch.complex64, 'f32'), (16, 256, torch.complex64, 'f32'),
                                  (16, 512, torch.complex64, 'f32'), (528, 64, torch.complex128, 'f64')):
            a = near_identity(batch, n, dt)
            b = torch.randn(batch, n, n, dtype=dt)
            out[f'solve_complex {tag} {batch} × {n}×{n} (k = {n})'] = median_time(lambda: torch.linalg.solve(a, b), repeats)
            if tag == 'f32':
                out[f'inverse_complex {tag} {batch} × {n}×{n}'] = median_time(lambda: torch.linalg.inv(a), repeats)
    out['_torch'] = torch.__version__
    out['_threads'] = threads
    print(json.dumps(out, ensure_ascii=False))


if __name__ == '__main__':
    main()
