"""Shared timing and memory harness of the PyTorch reference scripts in this folder (see
lib/bench/torch.ts for the contract: argv[1] threads, argv[2] repeats, one JSON line of {name: value}).
Used only by the benchmarks when PyTorch happens to be installed; never a dependency of onelip.
"""
import json
import subprocess
import sys
import time

import torch


def median_time(fn, repeats):
    """Median wall time of fn() over `repeats` runs, after two warm-up runs (allocator, oneDNN primitives)."""
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


def peak(make, row, warmup=False):
    """Bytes the first step of `row` needs on top of what is resident before it (VmHWM reset through
    /proc/self/clear_refs; the same method as lib/bench/layers.ts). `warmup` runs one step first."""
    step = make(row)
    if warmup:
        step()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
    base = status('VmRSS')
    step()
    return status('VmHWM') - base


def layer_main(script, rows, make, warmup_peak=False):
    """main() of a layer reference: times every row, or with argv[3] == 'mem' measures each row's peak
    memory in a fresh child process (argv[4] = the row index in the child)."""
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    torch.set_num_threads(threads)
    if len(sys.argv) > 4:  # child: one row's memory
        row = rows[int(sys.argv[4])]
        print(json.dumps({row: peak(make, row, warmup_peak)}))
        return
    if len(sys.argv) > 3 and sys.argv[3] == 'mem':
        out = {}
        for i in range(len(rows)):
            r = subprocess.run([sys.executable, script, str(threads), '1', 'mem', str(i)], capture_output=True, text=True, check=True)
            out.update(json.loads(r.stdout.strip().split('\n')[-1]))
        out['_torch'] = torch.__version__
        print(json.dumps(out))
        return
    out = {row: median_time(make(row), repeats) for row in rows}
    out['_torch'] = torch.__version__
    print(json.dumps(out))
