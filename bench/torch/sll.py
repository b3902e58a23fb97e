"""PyTorch reference for `onelip bench layers`: the SLL and AOL layers written plainly with the
formulas of SPEC.md A.2 / A.3 (the SLL repository's layers.py after 1abe5e1, and the AOL rescaling),
training mode, float32, CPU:

    SLL dense:  G = W W^T; t = sum_j |G_ij| exp(q_j - q_i); T = safe_inv(t)
                y = x - 2 * (T * relu(x W^T + b)) W
    SLL conv:   G = conv2d(K, K, padding k-1); t = sum_{j,s} |G_ijs| exp(q_j - q_i); T = safe_inv(t)
                y = x - 2 * conv_transpose2d(T * relu(conv2d(x, K, b, padding=k//2)), K, padding=k//2)
    AOL dense:  M = P^T P; d = (sum_i |M_ji| exp(q_i - q_j))^-1/2; y = (x * d) P^T + b
    AOL conv:   V = conv2d(K~, K~, padding k-1), K~ = K with axes 0, 1 swapped;
                d = (sum_{i,s} |V_jis| exp(q_i - q_j) + 1e-6)^-1/2; y = conv2d(x, K * d, b, padding=k//2)
    loss = sum(y * g); loss.backward()          (gradients to x and every parameter, q included)

Rows: SLLConv2d 64 channels, inner 64, 3x3, 32x32, batch 64; SLLDense 1024, inner 1024, batch 256;
AOLConv2d 64 -> 64, 3x3, 32x32, batch 64; AOLDense 1024 -> 1024, batch 256.
Usage: python3 bench/torch/sll.py THREADS [REPEATS] [mem]; output and memory method (the first step, no
warm-up) as bench/torch/cpl.py.
Used only by the benchmark when PyTorch is installed; never a dependency of onelip.
"""

import torch
import torch.nn.functional as F

from harness import layer_main

ROWS = [
    'SLLConv2d 64ch inner 64 3x3 32x32 b64 fwd+bwd',
    'SLLDense 1024 inner 1024 b256 fwd+bwd',
    'AOLConv2d 64->64 3x3 32x32 b64 fwd+bwd',
    'AOLDense 1024->1024 b256 fwd+bwd',
]


def safe_inv(t):
    return torch.where(t == 0, torch.zeros_like(t), 1 / t)


def make(row):
    torch.manual_seed(0)
    if row.startswith('SLLConv2d'):
        x = torch.randn(64, 64, 32, 32, requires_grad=True)
        k = (torch.randn(64, 64, 3, 3) * (2 / (128 * 9)) ** 0.5).requires_grad_()
        b = ((torch.rand(64) * 2 - 1) / 24).requires_grad_()
        q = torch.randn(64).requires_grad_()
        g = torch.randn(64, 64, 32, 32)
        params = [x, k, b, q]

        def fwd():
            G = F.conv2d(k, k, padding=2)
            t = (G.abs().sum((2, 3)) * torch.exp(q)[None, :]).sum(1) * torch.exp(-q)
            T = safe_inv(t)
            z = F.conv2d(x, k, b, padding=1)
            return x - 2 * F.conv_transpose2d(T[None, :, None, None] * F.relu(z), k, padding=1)
    elif row.startswith('SLLDense'):
        x = torch.randn(256, 1024, requires_grad=True)
        w = (torch.randn(1024, 1024) * (1 / 1024) ** 0.5).requires_grad_()
        b = ((torch.rand(1024) * 2 - 1) / 32).requires_grad_()
        q = torch.randn(1024).requires_grad_()
        g = torch.randn(256, 1024)
        params = [x, w, b, q]

        def fwd():
            G = w @ w.t()
            t = (G.abs() * torch.exp(q)[None, :]).sum(1) * torch.exp(-q)
            T = safe_inv(t)
            return x - 2 * (T * F.relu(F.linear(x, w, b))) @ w
    elif row.startswith('AOLConv2d'):
        x = torch.randn(64, 64, 32, 32, requires_grad=True)
        k = ((torch.rand(64, 64, 3, 3) * 2 - 1) / 24).requires_grad_()
        b = torch.zeros(64).requires_grad_()
        q = torch.zeros(64).requires_grad_()
        g = torch.randn(64, 64, 32, 32)
        params = [x, k, b, q]

        def fwd():
            kt = k.transpose(0, 1)
            V = F.conv2d(kt, kt, padding=2)
            t = (V.abs().sum((2, 3)) * torch.exp(q)[None, :]).sum(1) * torch.exp(-q)
            d = safe_inv(torch.sqrt(t + 1e-6))
            return F.conv2d(x, k * d[None, :, None, None], b, padding=1)
    else:
        x = torch.randn(256, 1024, requires_grad=True)
        p = ((torch.rand(1024, 1024) * 2 - 1) / 32).requires_grad_()
        b = torch.zeros(1024).requires_grad_()
        q = torch.zeros(1024).requires_grad_()
        g = torch.randn(256, 1024)
        params = [x, p, b, q]

        def fwd():
            M = p.t() @ p
            t = (M.abs() * torch.exp(q)[None, :]).sum(1) * torch.exp(-q)
            d = safe_inv(torch.sqrt(t))
            return F.linear(x * d, p, b)

    def step():
        (fwd() * g).sum().backward()
        for t in params:
            t.grad = None
    return step


if __name__ == '__main__':
    layer_main(__file__, ROWS, make)
