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
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

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


def median_time(fn, repeats):
    fn()
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def status(key):
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    return 0


def peak(row):
    step = make(row)
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = status('VmRSS')
    step()
    return status('VmHWM') - base


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    if len(sys.argv) > 4:  # child: one row's memory
        print(json.dumps({ROWS[int(sys.argv[4])]: peak(ROWS[int(sys.argv[4])])}))
        return
    if len(sys.argv) > 3 and sys.argv[3] == 'mem':
        out = {}
        for i in range(len(ROWS)):
            r = subprocess.run([sys.executable, __file__, str(threads), '1', 'mem', str(i)], capture_output=True, text=True, check=True)
            out.update(json.loads(r.stdout.strip().split('\n')[-1]))
        out['_torch'] = torch.__version__
        print(json.dumps(out))
        return
    out = {row: median_time(make(row), repeats) for row in ROWS}
    out['_torch'] = torch.__version__
    print(json.dumps(out))


if __name__ == '__main__':
    main()
