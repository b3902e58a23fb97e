"""PyTorch reference for `onelip bench layers`: CayleyConv2d (Trockman & Kolter, ICLR'21) written with the
same formulas as the Cayley reference repository (layers.py: cayley, fft_shift_matrix, CayleyConv.forward),
training mode, float32 (complex64), CPU:

    X = rfft2(x) per frequency [n(n/2+1), cin, batch]
    W = shift * conj(rfft2(weight, (n, n)))           shift = exp(-2 pi i s (p + q) / n), s = (k - 1) / 2
    Q = cayley(alpha * W / ||W||_F)                    (I + A)^-1 (I - A), A = U - U^H (cin = cout)
    y = irfft2(Q X) + bias
    loss = sum(y * g); loss.backward()                 (gradients to x, weight, alpha, bias)

Row: CayleyConv2d 64 -> 64 channels, 3x3, 32x32, batch 64.
Usage: python3 bench/torch/cayley.py THREADS [REPEATS] [mem]; prints one JSON line {row: median seconds}
(with 'mem': {row: peak bytes}, measured as in bench/torch/cpl.py). Never a dependency of onelip.
"""

import numpy as np
import torch

from harness import layer_main


ROWS = ['CayleyConv2d 64->64 3x3 32x32 b64 fwd+bwd']


def cayley(W):
    if len(W.shape) == 2:
        return cayley(W[None])[0]
    _, cout, cin = W.shape
    if cin > cout:
        return cayley(W.transpose(1, 2)).transpose(1, 2)
    U, V = W[:, :cin], W[:, cin:]
    I = torch.eye(cin, dtype=W.dtype, device=W.device)[None, :, :]
    A = U - U.conj().transpose(1, 2) + V.conj().transpose(1, 2) @ V
    iIpA = torch.inverse(I + A)
    return torch.cat((iIpA @ (I - A), -2 * V @ iIpA), axis=1)


def fft_shift_matrix(n, s):
    shift = torch.arange(0, n).repeat((n, 1))
    shift = shift + shift.T
    return torch.exp(1j * 2 * np.pi * s * shift / n)


def make(row):
    torch.manual_seed(0)
    cin = cout = 64
    n = 32
    batch = 64
    x = torch.randn(batch, cin, n, n, requires_grad=True)
    weight = ((torch.rand(cout, cin, 3, 3) * 2 - 1) / (cin * 9) ** 0.5).requires_grad_()
    bias = ((torch.rand(cout) * 2 - 1) / (cin * 9) ** 0.5).requires_grad_()
    shift = fft_shift_matrix(n, -1)[:, :(n // 2 + 1)].reshape(n * (n // 2 + 1), 1, 1)
    with torch.no_grad():
        w0 = shift * torch.fft.rfft2(weight, (n, n)).reshape(cout, cin, n * (n // 2 + 1)).permute(2, 0, 1).conj()
    alpha = torch.tensor(w0.norm().item(), requires_grad=True)
    g = torch.randn(batch, cout, n, n)

    def step():
        xfft = torch.fft.rfft2(x).permute(2, 3, 1, 0).reshape(n * (n // 2 + 1), cin, batch)
        wfft = shift * torch.fft.rfft2(weight, (n, n)).reshape(cout, cin, n * (n // 2 + 1)).permute(2, 0, 1).conj()
        yfft = (cayley(alpha * wfft / wfft.norm()) @ xfft).reshape(n, n // 2 + 1, cout, batch)
        y = torch.fft.irfft2(yfft.permute(3, 2, 0, 1))
        y = y + bias[:, None, None]
        (y * g).sum().backward()
        x.grad = weight.grad = bias.grad = alpha.grad = None
    return step


if __name__ == '__main__':
    layer_main(__file__, ROWS, make, warmup_peak=True)
