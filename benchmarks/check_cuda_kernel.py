"""Run the shipped CUDA homotopy kernel once on a small problem, in a process of its own,
before anything else uses the GPU (``run_gpu.sh``): a kernel that faults would leave the
CUDA context unusable for the rest of a process. Exits 0 when the kernel ran and gave the
CPU homotopy's codes, 1 otherwise.

    python benchmarks/check_cuda_kernel.py
"""

import sys
import time
import warnings

import numpy as np
import torch


def main():
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available, homotopy_cuda

    if not cuda_homotopy_available(256):
        print("CUDA homotopy kernel: not available here")
        return 1
    rng = np.random.RandomState(0)
    D = rng.randn(256, 64)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(2000, 64)
    C, G, x_sq = (torch.from_numpy(a) for a in (X @ D.T, D @ D.T, (X * X).sum(1)))
    for alpha in (1.0, 0.3):
        H0 = homotopy_cpu(C, G, alpha, x_sq=x_sq).codes.numpy()
        args = [a.cuda() for a in (C, G, x_sq)]
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            times = []
            for _ in range(2):
                start = time.perf_counter()
                H, finished, *_ = homotopy_cuda(*args[:2], alpha, x_sq=args[2])
                torch.cuda.synchronize()
                times.append(time.perf_counter() - start)
        H, finished = H.cpu().numpy(), finished.cpu().numpy()
        error = np.abs(H[finished] - H0[finished]).max() if finished.any() else np.inf
        print(f"CUDA homotopy kernel, alpha={alpha}: {finished.mean():.1%} of 2,000 rows "
              f"finished, largest difference from the CPU {error:.1e}; first call "
              f"{times[0]:.2f} s (the driver compiles the PTX), second {times[1] * 1e3:.1f} ms",
              flush=True)
        if not finished.mean() > 0.5 or not error < 1e-9:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
