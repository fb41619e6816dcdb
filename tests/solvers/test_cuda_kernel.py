"""The CUDA homotopy kernel (`_solvers._homotopy_cuda`): under numba's simulator against
the CPU, the shipped PTX against the device code, and on a GPU where there is one."""

import ctypes

import numpy as np
import pytest
import torch
from _config import DEVICE
from _problems import patch_problem

from skl_sparse._solvers._lasso import lasso_gram

_SIMULATED_KERNEL = """
import numpy as np
from skl_sparse._solvers._homotopy_cpu import homotopy_arrays
from skl_sparse._solvers._homotopy_cuda import run_kernel
rng = np.random.RandomState(0)
D = rng.randn(24, 12)
D /= np.linalg.norm(D, axis=1, keepdims=True)
X = rng.randn(200, 12)
C, G, x_sq = X @ D.T, D @ D.T, (X * X).sum(1)
# one sample per warp: 32 simulated threads and their barriers, slow; rows whose paths
# drop atoms (30, 197, 151; 100 with positive), stop at s_max (30 and 3 at 2, 5 at 3),
# run in the 64-atom factor (7, s_max = 40), or are zero (0)
warp_cases = [([30, 197, 151], 1.0, False, 32), ([100], 1.0, True, 32),
              ([30, 3], 1.0, False, 2), ([0], 100.0, False, 32), ([7], 0.3, False, 40),
              ([4, 5], 1.0, True, 3)]
# every triangular solve by all the lanes (PARALLEL_FROM = 0): sums in another order; row 2
# reaches 12 atoms in 12 dimensions at alpha = 1e-3, where the next one is dependent
parallel_cases = [([30, 197], 1.0, False, 32), ([2], 1e-3, False, 32)]
for parallel_from, cases in ((16, warp_cases), (0, parallel_cases)):
    exact = np.testing.assert_array_equal if parallel_from else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13))
    for rows, alpha, positive, s_max in cases:
        c, xs = C[list(rows)], x_sq[list(rows)]
        H0, f0, _, p0, g0 = homotopy_arrays(c, G, xs, alpha, positive=positive)
        H, done = np.zeros_like(c), np.ones(len(c), dtype=bool)
        steps, primal, gap = np.zeros(len(c), dtype=np.int64), 0.5 * xs, np.zeros(len(c))
        run_kernel(c, G, alpha, positive, xs, H, done, steps, primal, gap, s_max=s_max,
                   parallel_from=parallel_from)
        assert f0.all()
        # paths that need more than s_max atoms at once stop, reported unfinished
        assert (done == ((H0 != 0).sum(1) <= s_max)).all() and done.any() == (s_max > 2)
        exact(H[done], H0[done])
        np.testing.assert_allclose(gap[done], g0[done], rtol=0, atol=1e-13)
        np.testing.assert_allclose(primal[done], p0[done], rtol=1e-12)
# 80 atoms: 4 a lane, the last 48 slots padding; a path of 9 atoms, bit for bit
rng = np.random.RandomState(0)
D = rng.randn(80, 20)
D /= np.linalg.norm(D, axis=1, keepdims=True)
X = rng.randn(2, 20)
C, G, x_sq = X @ D.T, D @ D.T, (X * X).sum(1)
H0, f0, _, p0, g0 = homotopy_arrays(np.ascontiguousarray(C[1:]), G, x_sq[1:], 0.5)
H, done, steps = np.zeros_like(C[1:]), np.ones(1, dtype=bool), np.zeros(1, dtype=np.int64)
primal, gap = 0.5 * x_sq[1:], np.zeros(1)
run_kernel(C[1:], G, 0.5, False, x_sq[1:], H, done, steps, primal, gap, s_max=32)
assert done.all() and (H0 != 0).sum() == 9
np.testing.assert_array_equal(H, H0)
np.testing.assert_allclose(gap, g0, rtol=0, atol=1e-13)
print("ok")
"""


@pytest.mark.skipif(DEVICE != "cpu", reason="numba's CUDA simulator needs no GPU (CI runs it, a "
                    "minute alone); on a GPU the shipped kernel itself runs "
                    "(test_cuda_homotopy_kernel_runs_on_the_gpu)")
def test_cuda_homotopy_kernel_follows_the_cpu_path():
    """The GPU's homotopy kernel, one sample per warp (lanes sharing the atoms), runs here
    under numba's CUDA simulator (in a child process: the simulator is chosen when numba
    is imported): the CPU's codes bit for bit, its objectives and gaps to rounding (sums
    in another order), through atoms leaving the path and zero codes; the samples whose
    path needs more atoms than ``s_max`` are reported unfinished, with either factor
    capacity; and with several atoms a lane (a dictionary wider than a warp)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", _SIMULATED_KERNEL], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_kernel_source_digest_reads_the_same_on_every_python():
    """The digest of the kernel's code dumps syntax trees without their None and empty
    fields: the text below on Python 3.11 to 3.14 (3.12 added ``type_params=[]`` to
    every function, which made the shipped PTX look stale on the GPU machine's 3.12)."""
    import ast

    from skl_sparse._solvers._homotopy_cuda import _dump

    assert _dump(ast.parse("def f(x):\n    return x + 1")) == (
        "Module(body=[FunctionDef(name='f', args=arguments(args=[arg(arg='x')]), "
        "body=[Return(value=BinOp(left=Name(id='x', ctx=Load()), op=Add(), "
        "right=Constant(value=1)))])])")


REBUILD_PTX = (
    "The device code of the CUDA homotopy kernel changed (skl_sparse/_solvers/"
    "_homotopy_steps.py, or the kernel's functions in _homotopy_cuda.py): the shipped PTX "
    "is stale. Rebuild it in a side environment (no GPU needed), from the repository root:\n"
    "    python -m venv /tmp/ptx && /tmp/ptx/bin/pip install torch==2.13.0 scikit-learn "
    "'numba-cuda[cu12]==0.30.4' nvidia-cuda-nvcc-cu12==12.2.140\n"
    "    PYTHONPATH=. /tmp/ptx/bin/python benchmarks/cuda_kernels_ptx.py --write\n"
    "then commit skl_sparse/_device/_kernels/ and run the CUDA tests on a GPU "
    "(benchmarks/run_gpu.sh).")


def test_shipped_cuda_kernels_are_compiled_from_this_code():
    """The PTX shipped for the GPU (`_cuda_driver`) was compiled from the device code as
    it is (`REBUILD_PTX` says how to rebuild it), for every size and factor capacity, for
    drivers of CUDA 12.2 on (PTX ISA 8.2, compute capability 7.0); and the launcher passes
    exactly the parameters each entry point declares: numba's array structures, then
    the scalars, in the kernel's order."""
    import hashlib
    import json
    import re
    from importlib import resources

    from skl_sparse._device import _cuda_driver
    from skl_sparse._solvers import _homotopy_cuda as lars_cuda

    folder = resources.files(_cuda_driver.__package__) / _cuda_driver.KERNELS
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source_digest"] == lars_cuda.source_digest(), REBUILD_PTX
    names = [lars_cuda.variant_name(*v) for v in lars_cuda.shipped_variants()]
    assert list(_cuda_driver.kernel_names()) == sorted(names) == sorted(manifest["ptx_sha256"])
    n, k = 3, 24
    matrix, vector = torch.zeros(n, k, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    problem = (matrix, torch.zeros(k, k, dtype=torch.float64), 0.1, True, vector, matrix,
               torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.int64), vector,
               vector)
    _, blocks, args = lars_cuda._arguments(*problem, 32, None)
    ptx_type = {ctypes.c_void_p: ".u64", ctypes.c_int64: ".u64", ctypes.c_double: ".f64",
                ctypes.c_uint8: ".u8"}
    passed = [ptx_type[type(a)] for a in _cuda_driver.numba_arguments(*args)]
    assert blocks == n and len(passed) == 9 * 3 + 7 * 5 + 5
    for name in names:
        ptx, entry = _cuda_driver.read_ptx(name)
        assert hashlib.sha256(ptx.encode()).hexdigest() == manifest["ptx_sha256"][name]
        assert re.search(r"^\.version 8\.2$", ptx, re.M) and "\n.target sm_70\n" in ptx
        assert ptx.count(".entry ") == 1
        params = ptx[ptx.index(entry + "(") :].split(")", 1)[0]
        assert re.findall(r"\.param (\.\w+) ", params) == passed, name
    with pytest.raises(ValueError, match="s_max=65"):
        lars_cuda._arguments(*problem, 65, None)
    with pytest.raises(ValueError, match="C-contiguous"):  # the PTX reads no strides
        lars_cuda._arguments(torch.zeros(k, n, dtype=torch.float64).T, *problem[1:], 32, None)


def test_kernel_digest_reads_the_device_code_only(monkeypatch):
    """The shipped PTX's digest reads `_homotopy_steps` and the kernel's functions, nothing
    else: the CPU's homotopy loop and the launcher change without a rebuild, while any
    change to the code compiled for the GPU changes the digest. Every function compiled as
    a device function lives in `_homotopy_steps`, and every function there is compiled."""
    import inspect

    from numba.core.registry import CPUDispatcher

    from skl_sparse._solvers import _homotopy_cuda as lars_cuda
    from skl_sparse._solvers import _homotopy_steps as steps

    read, getsource = [], inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(obj) or getsource(obj))
    digest = lars_cuda.source_digest()
    assert read == [steps, lars_cuda._device_functions, lars_cuda._warp_kernel,
                    lars_cuda.kernel_signature]
    compiled = {name for name, obj in vars(steps).items() if isinstance(obj, CPUDispatcher)}
    assert compiled == set(lars_cuda.DEVICE_FUNCTIONS)
    edited = {steps: getsource(steps).replace("d <= 1e-10 * G[j, j]", "d <= 1e-9 * G[j, j]"),
              lars_cuda._warp_kernel: getsource(lars_cuda._warp_kernel).replace(
                  "tiny = 1e-14", "tiny = 1e-13")}
    for obj, text in edited.items():
        assert text != getsource(obj)
        monkeypatch.setattr(inspect, "getsource",
                            lambda o, obj=obj, text=text: text if o is obj else getsource(o))
        assert lars_cuda.source_digest() != digest


@pytest.mark.skipif(DEVICE == "cpu", reason="needs CUDA")
def test_cuda_homotopy_kernel_runs_on_the_gpu(whitened_patches):
    """On a GPU, solver="lars" runs the shipped homotopy kernel: the CPU homotopy's codes
    to rounding, every sample it finished certified by its own gap."""
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available, homotopy_cuda

    if not cuda_homotopy_available():
        pytest.skip("the CUDA homotopy kernel is not available")
    X, D = patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, 0.1, solver="lars")
    H, finished, _, primal, gap = homotopy_cuda(C.to(DEVICE), G.to(DEVICE), 0.1,
                                                x_sq=x_sq.to(DEVICE))
    finished = finished.cpu()
    assert finished.double().mean() > 0.9
    np.testing.assert_allclose(H.cpu()[finished], exact[finished], atol=1e-8)
    assert torch.all(gap.cpu()[finished] <= 1e-9 * primal.cpu()[finished])
    H_l, _, p_l, _ = lasso_gram(C.to(DEVICE), G.to(DEVICE), x_sq.to(DEVICE), 0.1,
                                solver="lars")
    torch.testing.assert_close(p_l.cpu(), p_exact, rtol=1e-9, atol=0)


def test_cuda_homotopy_reruns_the_rows_a_small_factor_leaves(whitened_patches, monkeypatch):
    """`homotopy_cuda` with factor sizes (4, 64): the rows whose path needs more than 4
    atoms run again with 64, and only they, unless they are at most ``rerun_over``; the
    merged result is the homotopy's. (The kernel is replaced here by the CPU homotopy with
    the same size limit.)"""
    import skl_sparse._solvers._homotopy_cuda as lars_cuda
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    calls = []

    def launch(C, G, x_sq, alpha, positive, s_max, max_steps, parallel_from):
        calls.append((len(C), s_max))
        H, _, steps, primal, gap = homotopy_cpu(C, G, alpha, positive=positive, x_sq=x_sq)
        finished = (H != 0).sum(1) <= s_max
        H[~finished] = 0.0
        return H, finished, torch.full((len(C),), int(steps)), primal, gap

    monkeypatch.setattr(lars_cuda, "_launch", launch)
    H, finished, _, primal, gap = lars_cuda.homotopy_cuda(C, G, 0.05, x_sq=x_sq,
                                                          s_max=(4, 64))
    exact, _, _, p_exact, g_exact = homotopy_cpu(C, G, 0.05, x_sq=x_sq)
    many = int(((exact != 0).sum(1) > 4).sum())
    assert calls == [(len(C), 4), (many, 64)] and 0 < many < len(C)
    assert finished.all()
    torch.testing.assert_close(H, exact, rtol=0, atol=0)
    torch.testing.assert_close(gap, g_exact, rtol=0, atol=0)
    # as few rows as the caller would finish on the CPU: no larger kernel for them
    calls.clear()
    _, finished, *_ = lars_cuda.homotopy_cuda(C, G, 0.05, x_sq=x_sq, s_max=(4, 64),
                                              rerun_over=many)
    assert calls == [(len(C), 4)] and int((~finished).sum()) == many
