"""Memory of ``SparseCoder.transform`` on a million patches.

Problem (issue #7): 1,000,000 ZCA-whitened 12x12 patches in float32 (100,000 real patches
from the images bundled with scikit-learn, repeated), 256 atoms learned on them, alpha=0.1.
A sampling thread reads the resident set size (``/proc/self/statm``) every few
milliseconds while ``transform`` runs; the table shows its peak above the RSS before the
call, minus the output array that ``transform`` has to allocate (target: at most 1.5 GiB).

    python benchmarks/bench_memory.py [--n 1000000] [--device cpu]
"""

import argparse
import os
import threading
import time

import numpy as np

from skl_sparse import OnlineDictionaryLearner, SparseCoder, ZCAWhitener
from skl_sparse.datasets import load_natural_patches

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS(threading.Thread):
    def __init__(self, interval=0.002):
        super().__init__(daemon=True)
        self.interval, self.peak, self.running = interval, rss(), True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(self.interval)

    def stop(self):
        self.running = False
        self.join()
        self.peak = max(self.peak, rss())
        return self.peak


def measure(n=1_000_000, atoms=256, alpha=0.1, device="cpu"):
    patches = load_natural_patches(100_000, patch_size=(12, 12), random_state=0)
    patches -= patches.mean(axis=1, keepdims=True)
    real = ZCAWhitener(eps=1.0).fit_transform(patches).astype(np.float32)
    D = OnlineDictionaryLearner(atoms, alpha=alpha, max_iter=1, device=device,
                                random_state=0).fit(real[:20000]).components_
    X = np.tile(real, (int(np.ceil(n / len(real))), 1))[:n]
    del patches, real
    coder = SparseCoder(alpha=alpha, dictionary=D, device=device).fit(X[:10])
    coder.transform(X[:64])  # warm-up: compiled kernels loaded

    before = rss()
    monitor = PeakRSS()
    monitor.start()
    start = time.perf_counter()
    codes = coder.transform(X)
    seconds = time.perf_counter() - start
    peak = monitor.stop()
    gib = 2.0**30
    return {"seconds": seconds, "density": np.count_nonzero(codes) / codes.size,
            "input_gib": X.nbytes / gib, "output_gib": codes.nbytes / gib,
            "peak_above_input_gib": (peak - before) / gib,
            "extra_gib": (peak - before - codes.nbytes) / gib, "shape": X.shape}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--atoms", type=int, default=256)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    r = measure(args.n, args.atoms, args.alpha, args.device)
    print(f"transform of {r['shape'][0]:,} x {r['shape'][1]} float32 patches, {args.atoms} "
          f"atoms, alpha={args.alpha}, device={args.device}: {r['seconds']:.1f} s, "
          f"density {r['density']:.2%}")
    print(f"input {r['input_gib']:.2f} GiB, output {r['output_gib']:.2f} GiB, "
          f"peak RSS above the input {r['peak_above_input_gib']:.2f} GiB")
    print(f"memory above input and output: {r['extra_gib'] * 1024:.1f} MiB (target <= 1.5 GiB)")


if __name__ == "__main__":
    main()
