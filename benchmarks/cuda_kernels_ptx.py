"""Compile the CUDA homotopy kernels (`skl_sparse._lars_cuda`) without a GPU, and report
their resources: registers, shared memory, local memory (stack) and spills per thread.

Needs numba's CUDA target and the CUDA compiler's wheels, not a GPU (in a side
environment: ``pip install "numba-cuda[cu12]"`` next to this package's requirements)::

    python benchmarks/cuda_kernels_ptx.py [--cc 9.0]

Type errors in the kernels show here as on a GPU; ``ptxas`` (from the
``nvidia-cuda-nvcc`` wheel) then assembles the PTX for the given compute capability.
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import types


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="compute capability (default 9.0: H100)")
    args = parser.parse_args()
    cc = tuple(int(x) for x in args.cc.split("."))

    import numba.cuda.dispatcher as dispatcher
    from numba import boolean, cuda, float64, int64, void

    # device functions are compiled for the current device's capability: there is none
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=cc)
    from skl_sparse import _lars_cuda

    sig = void(float64[:, :], float64[:, :], float64, boolean, int64, float64[:, :],
               boolean[:], int64[:], float64[:], float64[:], float64[:])
    ptxas = glob.glob(os.path.join(os.path.dirname(sys.executable), "..", "lib", "python*",
                                   "site-packages", "nvidia", "cuda_nvcc", "bin", "ptxas"))
    kernels = {"warp": lambda k, s: _lars_cuda._warp_kernel(k, s, _lars_cuda.PARALLEL_FROM),
               "thread": _lars_cuda._kernel}
    for name, factory in kernels.items():
        for n_atoms, s_max in ((256, 32), (256, 64), (1024, 32)):
            ptx, _ = cuda.compile_ptx(factory(n_atoms, s_max).py_func, sig, cc=cc)
            report = f"{len(ptx.splitlines())} PTX lines"
            if ptxas:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "kernel.ptx")
                    with open(path, "w") as f:
                        f.write(ptx)
                    out = subprocess.run(
                        [ptxas[0], f"-arch=sm_{cc[0]}{cc[1]}", "-v", path, "-o",
                         os.path.join(tmp, "kernel.cubin")], capture_output=True, text=True)
                lines = [line.split("info    :")[-1].strip() for line in out.stderr.splitlines()
                         if "registers" in line or "spill" in line]
                report += "; " + "; ".join(lines) if lines else f"; ptxas: {out.stderr[-300:]}"
            print(f"{name} a sample, {n_atoms} atoms, {s_max}-atom factor: {report}", flush=True)


if __name__ == "__main__":
    main()
