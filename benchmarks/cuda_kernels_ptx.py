"""Compile the CUDA homotopy kernel (`skl_sparse._solvers._homotopy_cuda`) to PTX without a
GPU, report its resources (registers, shared memory, spills), and with ``--write`` ship it:
the PTX of every variant into ``skl_sparse/_device/_kernels/``, with ``manifest.json``
recording the digest of the device code it came from (``tests/solvers/test_cuda_kernel.py``
checks that digest).

Needs numba's CUDA target and NVVM, not a GPU, in a side environment next to this
package's requirements::

    pip install "numba-cuda[cu12]==0.30.4" "nvidia-cuda-nvcc-cu12==12.2.140"
    python benchmarks/cuda_kernels_ptx.py [--write] [--cc 9.0]

The PTX targets compute capability 7.0 with the NVVM of CUDA 12.2 (PTX ISA 8.2), so that
drivers from CUDA 12.2 on load it on any GPU from Volta on. ``ptxas`` (from the same
wheel) assembles it for ``--cc`` to report registers and spills.
"""

import argparse
import ctypes
import glob
import hashlib
import importlib.metadata as metadata
import json
import lzma
import os
import subprocess
import sys
import tempfile
import types

TARGET = (7, 0)
NVCC = "nvidia-cuda-nvcc-cu12"


def _pin_nvvm():
    """Use the NVVM of the ``nvidia-cuda-nvcc-cu12`` wheel (not a system CUDA's, whose
    PTX ISA older drivers may not read); returns the wheel's folder and version."""
    dist = metadata.distribution(NVCC)
    root = os.path.join(str(dist.locate_file("")), "nvidia", "cuda_nvcc")
    ctypes.CDLL(os.path.join(root, "nvvm", "lib64", "libnvvm.so"), mode=os.RTLD_GLOBAL)
    from numba.cuda import cuda_paths

    paths = cuda_paths.get_cuda_paths()
    paths["nvvm"] = cuda_paths._env_path_tuple(NVCC, os.path.join(root, "nvvm", "lib64",
                                                                  "libnvvm.so"))
    paths["libdevice"] = cuda_paths._env_path_tuple(
        NVCC, os.path.join(root, "nvvm", "libdevice", "libdevice.10.bc"))
    return root, dist.version


def _resources(ptx, ptxas, cc):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        out = subprocess.run([ptxas, f"-arch=sm_{cc[0]}{cc[1]}", "-v", path, "-o",
                              os.path.join(tmp, "kernel.cubin")], capture_output=True,
                             text=True)
    lines = [line.split("info    :")[-1].strip() for line in out.stderr.splitlines()
             if "registers" in line or "spill" in line]
    return "; ".join(lines) if out.returncode == 0 else f"ptxas failed: {out.stderr[-500:]}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default="9.0", help="capability for ptxas (default 9.0: H100)")
    parser.add_argument("--write", action="store_true",
                        help="write the PTX and its manifest into skl_sparse/_device/_kernels/")
    args = parser.parse_args()
    cc = tuple(int(x) for x in args.cc.split("."))
    root, nvcc_version = _pin_nvvm()

    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    # device functions are compiled for the current device's capability: there is none
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=TARGET)
    from skl_sparse._device import _cuda_driver
    from skl_sparse._solvers import _homotopy_cuda as _lars_cuda

    ptxas = glob.glob(os.path.join(root, "bin", "ptxas"))
    folder = os.path.join(os.path.dirname(_cuda_driver.__file__), _cuda_driver.KERNELS)
    files = {}
    for size, capacity in _lars_cuda.shipped_variants():
        name = _lars_cuda.variant_name(size, capacity)
        kernel = _lars_cuda._warp_kernel(size, capacity).py_func
        ptx, _ = cuda.compile_ptx(kernel, _lars_cuda.kernel_signature(), cc=TARGET)
        report = f"{len(ptx.splitlines())} PTX lines"
        if ptxas:
            report += "; " + _resources(ptx, ptxas[0], cc)
        print(f"{name}: {report}", flush=True)
        if args.write:
            os.makedirs(folder, exist_ok=True)
            data = lzma.compress(ptx.encode(), preset=9)
            with open(os.path.join(folder, f"{name}.ptx.xz"), "wb") as f:
                f.write(data)
            files[name] = hashlib.sha256(ptx.encode()).hexdigest()
    if args.write:
        manifest = {"source_digest": _lars_cuda.source_digest(),
                    "numba_cuda": metadata.version("numba-cuda"), NVCC: nvcc_version,
                    "target": f"sm_{TARGET[0]}{TARGET[1]}", "ptx_sha256": files}
        with open(os.path.join(folder, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(files)} kernels to {folder}", file=sys.stderr)


if __name__ == "__main__":
    main()
