"""PyTorch reference for `onelip bench layers`: the CPL layers (Meunier et al., ICML'22) written with
the same formulas as the CPL reference repository (layers.py / util.py), training mode, float32, CPU:

    power iteration (1 step, warm start from the stored u, no autograd):
        v = normalize(W u); u = normalize(W^T v)         (conv: conv2d / conv_transpose2d, padding 1)
    sigma = <W u, v> with autograd (gradient to W through sigma)
    h = 2 / (sigma^2 + 1e-4)
    y = x - h * W^T relu(W x + b)                        (conv: conv_transpose2d(relu(conv2d(x, K, b))))
    loss = sum(y * g); loss.backward()                   (gradients to x, W, b)

Rows: CPLConv2d 64 channels, inner 64, 3x3, 32x32, batch 64; CPLDense 1024 features, inner 1024,
batch 256. Usage: python3 bench/torch/cpl.py THREADS [REPEATS] [mem]
Prints one JSON line {row: median seconds}; with 'mem': {row: peak bytes} instead, the growth of the
peak resident set (VmHWM, reset through /proc/self/clear_refs) over the resident set just before the
first forward + backward of a fresh process (parameters and inputs already allocated; no warm-up,
so that no allocator cache hides the step's memory), each row in its own process.
Used only by the benchmark when PyTorch is installed; never a dependency of onelip.
"""

import torch
import torch.nn.functional as F

from harness import layer_main

ROWS = ['CPLConv2d 64ch inner 64 3x3 32x32 b64 fwd+bwd', 'CPLDense 1024 inner 1024 b256 fwd+bwd']


def normalize(t):
    return t / (t.norm() + 1e-12)


def make(row):
    torch.manual_seed(0)
    if row.startswith('CPLConv2d'):
        x = torch.randn(64, 64, 32, 32, requires_grad=True)
        w = (torch.rand(64, 64, 3, 3) * 2 - 1).div_(24).requires_grad_()
        b = (torch.rand(64) * 2 - 1).div_(24).requires_grad_()
        u = normalize(torch.randn(1, 64, 32, 32))
        g = torch.randn(64, 64, 32, 32)

        def step():
            nonlocal u
            with torch.no_grad():
                v = normalize(F.conv2d(u, w, padding=1))
                u = normalize(F.conv_transpose2d(v, w, padding=1))
            sigma = (F.conv2d(u, w, padding=1) * v).sum()
            h = 2 / (sigma ** 2 + 1e-4)
            y = x - h * F.conv_transpose2d(F.relu(F.conv2d(x, w, b, padding=1)), w, padding=1)
            (y * g).sum().backward()
            x.grad = w.grad = b.grad = None
    else:
        x = torch.randn(256, 1024, requires_grad=True)
        w = (torch.rand(1024, 1024) * 2 - 1).div_(32).requires_grad_()
        b = (torch.rand(1024) * 2 - 1).div_(32).requires_grad_()
        u = normalize(torch.randn(1, 1024))
        g = torch.randn(256, 1024)

        def step():
            nonlocal u
            with torch.no_grad():
                v = normalize(F.linear(u, w))
                u = normalize(F.linear(v, w.t()))
            sigma = (F.linear(u, w) * v).sum()
            h = 2 / (sigma ** 2 + 1e-4)
            y = x - h * F.linear(F.relu(F.linear(x, w, b)), w.t())
            (y * g).sum().backward()
            x.grad = w.grad = b.grad = None
    return step


if __name__ == '__main__':
    layer_main(__file__, ROWS, make)
