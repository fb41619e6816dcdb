"""CPU work with torch's threads idle (`skl_sparse._device._threads`) against torch's threads
spinning beside ours, side by side in one run, with SPAMS as the anchor.

After each parallel product torch's OpenMP threads spin for milliseconds; our thread pool
(the homotopy's rows) then shares the cores with them. ``own_threads`` runs torch on one
thread meanwhile; ``SKL_SPARSE_OWN_THREADS=0`` turns it off, as the "beside" column does
(each column in a process of its own: the spinning outlives a call). Problem: 10,000
whitened 12x12 patches and 256 atoms (`bench_sparse_encode`) for ``transform``; one epoch
of ``OnlineDictionaryLearner`` (256 atoms, batches of 256, alpha = 0.1) over 20,000
patches.

    python benchmarks/bench_cpu_threads.py [--n 10000] [--repeat 5]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

from skl_sparse._config import ENV_OWN_THREADS as ENV_SWITCH

ALPHAS = (0.3, 0.1, 0.03)


def best(fn, repeat):
    """The shortest of ``repeat`` calls back to back: unlike `bench_sparse_encode.timed`
    no pause between them, as in a loop of calls, where threads left spinning by one call
    slow the next (what this bench is about)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(data, repeat):
    """Seconds of each row's work in this process (its ENV_SWITCH as it was set)."""
    from skl_sparse import OnlineDictionaryLearner, SparseCoder

    warnings.simplefilter("ignore")
    X, D = data["X"], data["D"]
    seconds = []
    for alpha in ALPHAS:
        coder = SparseCoder(alpha=alpha, dictionary=D, device="cpu").fit(X[:1])
        coder.transform(X[:64])  # compiled kernels loaded
        seconds.append(best(lambda: coder.transform(X), repeat))  # noqa: B023
    train = np.concatenate([X, X[:, ::-1]])
    odl = OnlineDictionaryLearner(256, alpha=0.1, batch_size=256, device="cpu",
                                  random_state=0)
    odl.partial_fit(train[:512])
    seconds.append(best(lambda: odl.partial_fit(train), max(2, repeat // 2)))
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(np.load(args.child), args.repeat)))
        return
    from bench_sparse_encode import problem, spams, spams_lasso

    warnings.simplefilter("ignore")
    X, D = problem(args.n, 256)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "problem.npz")
        np.savez(path, X=X, D=D)
        columns = []
        for switch in ("0", "1"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", path, "--repeat", str(args.repeat)],
                env={**os.environ, ENV_SWITCH: switch}, capture_output=True, text=True,
                check=True)
            columns.append(json.loads(out.stdout.strip().splitlines()[-1]))
    anchors = [best(lambda: spams_lasso(X, D, a), args.repeat) if spams else None  # noqa: B023
               for a in ALPHAS] + [None]
    names = [f"transform of {args.n:,}, alpha={a}" for a in ALPHAS]
    names.append(f"OnlineDictionaryLearner, 1 epoch of {2 * args.n:,}")
    print(f"seconds (best of {args.repeat}); torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; 'beside': {ENV_SWITCH}=0")
    print(f"{'work':<44}{'SPAMS':>8}{'beside':>9}{'own':>9}{'gain':>7}{'vs SPAMS':>10}")
    for name, anchor, before, own in zip(names, anchors, *columns, strict=True):
        versus = f"{anchor / own:.2f}x" if anchor else "-"
        anchor = f"{anchor:.4f}" if anchor else "-"
        print(f"{name:<44}{anchor:>8}{before:>9.4f}{own:>9.4f}{before / own:>6.2f}x"
              f"{versus:>10}")


if __name__ == "__main__":
    main()
