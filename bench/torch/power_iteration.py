"""PyTorch reference for `onelip bench kernels`: power iteration on a convolution, the way the CPL
reference does it (v <- normalize(conv2d(u, K)), u <- normalize(conv_transpose2d(v, K))), 10
iterations, K [64, 64, 3, 3], u [1, 64, 32, 32], stride 1, padding 1, float32, CPU, no autograd. The
estimate is ||K^T v|| of the last step, read once at the end (.item()), as onelip's powerIteration.

Usage: python3 bench/torch/power_iteration.py THREADS [REPEATS]
Prints one JSON line {name: median seconds}; the name matches lib/bench/kernels.ts's row.
Used only by the benchmark when PyTorch happens to be installed; never a dependency of onelip.
"""
import json
import sys

import torch
import torch.nn.functional as F

from harness import median_time


def power_iteration(k, u, iters):
    u = u / u.norm()
    for _ in range(iters):
        v = F.conv2d(u, k, None, 1, 1)
        v = v / v.norm().clamp_min(torch.finfo(v.dtype).tiny)
        t = F.conv_transpose2d(v, k, None, 1, 1)
        n = t.norm()
        u = t / n.clamp_min(torch.finfo(t.dtype).tiny)
    return n.item(), u, v


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    k = torch.randn(64, 64, 3, 3)
    u = torch.randn(1, 64, 32, 32)
    with torch.no_grad():
        t = median_time(lambda: power_iteration(k, u, 10), repeats)
    print(json.dumps({
        'power iteration conv 64x3x3 32x32, 10 iterations': t,
        '_torch': torch.__version__,
        '_threads': threads,
    }))


if __name__ == '__main__':
    main()
