"""PyTorch reference for `onelip bench layers`: the SOC layer (SPEC.md A.4) 64 -> 64 channels, 3x3,
32x32, batch 64, float32, CPU, with the same formulas as onelip's SOCConv2d in training mode: one F4
power-iteration step on the skew kernel (no grad), L_n = L / min_i sigma_i, 6 terms by Horner
(z <- x + conv2d(z, L_n)/i), bias; forward + backward of sum(y * g) through autograd ("exact"), and the
IMP repo's fast gradient as a custom autograd function ("fast": one weight-gradient convolution).

Usage: python3 bench/torch/soc.py THREADS [REPEATS]
Prints one JSON line {name: median seconds}; the names match lib/bench/layers.ts's rows.
Used only by the benchmark when PyTorch happens to be installed; never a dependency of onelip.
"""
import json
import sys

import torch
import torch.nn.functional as F

from harness import median_time


def skew(m):
    return 0.5 * (m - m.transpose(0, 1).flip(2, 3))


F4_AXES = [((1, 3), (0, 2)), ((1, 2), (0, 3)), ((1, 2, 3), (0,)), ((0, 2, 3), (1,))]


def f4_step(L, uv):
    for i, (va, ua) in enumerate(F4_AXES):
        u, v = uv[i]
        v = F.normalize((L * u).sum(va, keepdim=True).flatten(), dim=0).reshape((L * u).sum(va, keepdim=True).shape)
        u = F.normalize((L * v).sum(ua, keepdim=True).flatten(), dim=0).reshape((L * v).sum(ua, keepdim=True).shape)
        uv[i] = (u, v)


def normalized(L, uv):
    sig = torch.stack([(L * u * v).sum() for u, v in uv])
    return L / sig.min()


class FastSeries(torch.autograd.Function):
    """y = x + L * z1 with z1 = sum_{j<n} L^j x/(j+1)!; backward: exact dx, one weight-gradient conv."""

    @staticmethod
    def forward(ctx, x, L, n):
        z = x
        for i in range(n, 1, -1):
            z = x + F.conv2d(z, L, padding=1) / i
        ctx.save_for_backward(z, L)
        ctx.n = n
        return x + F.conv2d(z, L, padding=1)

    @staticmethod
    def backward(ctx, g):
        z1, L = ctx.saved_tensors
        G = g
        for i in range(ctx.n, 1, -1):
            G = g + F.conv_transpose2d(G, L, padding=1) / i
        dx = g + F.conv_transpose2d(G, L, padding=1)
        dL = torch.ops.aten.convolution_backward(G, z1, L, None, [1, 1], [1, 1], [1, 1], False, [0, 0], 1,
                                                 [False, True, False])[1]
        return dx, dL, None


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    if len(sys.argv) > 3 and sys.argv[3] == 'mem':
        print('{}')  # peak memory is not measured for the SOC rows
        return
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n_img, c, h, w, k, terms = 64, 64, 32, 32, 3, 6
    M = (torch.randn(c, c, k, k) / c ** 0.5).requires_grad_()
    b = torch.zeros(c).requires_grad_()
    uv = []
    for shp_u, shp_v in [((1, c, 1, k), (c, 1, k, 1)), ((1, c, k, 1), (c, 1, 1, k)), ((1, c, k, k), (c, 1, 1, 1)),
                         ((c, 1, k, k), (1, c, 1, 1))]:
        u = torch.randn(shp_u)
        v = torch.randn(shp_v)
        uv.append((u / u.norm(), v / v.norm()))
    x = torch.randn(n_img, c, h, w).requires_grad_()
    g = torch.randn(n_img, c, h, w)

    def step(fast):
        M.grad = None
        b.grad = None
        x.grad = None
        with torch.no_grad():
            f4_step(skew(M), uv)
        Ln = normalized(skew(M), uv)
        if fast:
            y = FastSeries.apply(x, Ln, terms - 1)
        else:
            z = x
            for i in range(terms - 1, 0, -1):
                z = x + F.conv2d(z, Ln, padding=1) / i
            y = z
        y = y + b.view(1, -1, 1, 1)
        (y * g).sum().backward()

    def forward_only():
        with torch.no_grad():
            f4_step(skew(M), uv)
            Ln = normalized(skew(M), uv)
            z = x
            for i in range(terms - 1, 0, -1):
                z = x + F.conv2d(z, Ln, padding=1) / i
            return z + b.view(1, -1, 1, 1)

    print(json.dumps({
        'SOCConv2d 64->64 3x3 32x32 b64 6 terms forward': median_time(forward_only, repeats),
        'SOCConv2d 64->64 3x3 32x32 b64 6 terms fwd+bwd exact': median_time(lambda: step(False), repeats),
        'SOCConv2d 64->64 3x3 32x32 b64 6 terms fwd+bwd fast': median_time(lambda: step(True), repeats),
        '_torch': torch.__version__,
        '_threads': threads,
    }))


if __name__ == '__main__':
    main()
