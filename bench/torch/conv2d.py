"""PyTorch reference for `onelip bench kernels`: conv2d forward, backward-input and backward-weight on
the target shape (batch 64, 64 -> 64 channels, 32x32, 3x3, stride 1, padding 1), float32, CPU.

Usage: python3 bench/torch/conv2d.py THREADS [REPEATS]
Prints one JSON line {name: median seconds}; the names match lib/bench/kernels.ts's conv2d rows.
Used only by the benchmark when PyTorch happens to be installed; never a dependency of onelip.
"""
import json
import sys

import torch

from harness import median_time



def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n, c, o, h, w, k = 64, 64, 64, 32, 32, 3
    x = torch.randn(n, c, h, w)
    wt = torch.randn(o, c, k, k)
    g = torch.randn(n, o, h, w)
    conv = torch.ops.aten.convolution_backward
    with torch.no_grad():
        fwd = median_time(lambda: torch.nn.functional.conv2d(x, wt, None, 1, 1), repeats)
        bin_ = median_time(lambda: conv(g, x, wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                        [True, False, False]), repeats)
        bw = median_time(lambda: conv(g, x, wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                      [False, True, False]), repeats)
        both = median_time(lambda: conv(g, x, wt, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                        [True, True, False]), repeats)
    print(json.dumps({
        'conv2d 3x3 forward': fwd,
        'conv2d 3x3 backward-input': bin_,
        'conv2d 3x3 backward-weight': bw,
        'conv2d 3x3 backward (input+weight, one call)': both,
        'conv2d 3x3 sum': fwd + bin_ + bw,
        '_torch': torch.__version__,
        '_threads': threads,
    }))


if __name__ == '__main__':
    main()
