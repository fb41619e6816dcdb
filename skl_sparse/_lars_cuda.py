"""The LARS-lasso homotopy of `skl_sparse._lars_cpu`, one sample per CUDA thread (numba).

The batched torch homotopy of `skl_sparse._lars` advances every sample by one event per
step in lock-step, each step a few dozen kernels and a host round trip. Here the whole
path of a sample runs in one thread of one kernel launch: the compiled CPU code
(`_lars_cpu._lars_one`, `_lars_cpu._gap_one`), compiled again as CUDA device functions
from the same source, with its working arrays in the thread's local memory. The
Cholesky factor of the active set has a fixed size ``s_max`` there (32 atoms by
default): a sample whose path needs more atoms stops, reported unfinished, like a
sample with linearly dependent atoms, and `lasso_gram` finishes it with its iterative
solver. The kernel also computes every sample's objective and duality gap, so the
samples it finished leave at once.

It needs numba's CUDA target (the ``numba-cuda`` package) and a GPU; without them,
or if compiling the kernel fails, `lasso_gram` keeps the batched homotopy
(`cuda_homotopy_available`). The kernel is compiled on the first call in a process
(seconds), for each number of atoms and ``s_max``.
"""

import functools
import os
import types
import warnings

import torch

from . import _lars_cpu

__all__ = ["cuda_homotopy_available", "lars_path_gram_cuda", "S_MAX"]

# atoms a sample's path may hold at once in the kernel (the Cholesky factor is
# S_MAX x S_MAX float64 in each thread's local memory: 8 KB, and the driver reserves local
# memory for every thread the GPU can hold at once, ~270,000 on an H100: with the two
# vectors of 256 atoms, 3.8 GB). On 20,000 whitened patches (256 atoms) the codes of 0.03%
# / 20% / 39% of the samples have more than 32 atoms at alpha = 0.3 / 0.1 / 0.03 (0% / 8% /
# 33% more than 48, 0% / 0.8% / 27% more than 64)
S_MAX = 32
# the most atoms the kernel takes (two float64 vectors of n_components in each thread's
# local memory); larger dictionaries keep the batched homotopy
MAX_ATOMS = 1024
_THREADS = 64
# environment variable: "0" turns the kernel off (the batched torch homotopy then)
ENV_SWITCH = "SKL_SPARSE_CUDA_KERNELS"
_BROKEN = []  # the error of a failed compilation, once seen
cuda = None  # numba.cuda, imported with the first kernel


def cuda_homotopy_available(n_atoms=0):
    """Whether `lars_path_gram_cuda` can run: numba's CUDA target and a GPU, at most
    `MAX_ATOMS` atoms, not turned off by ``SKL_SPARSE_CUDA_KERNELS=0``, and no earlier
    failure to compile."""
    if os.environ.get(ENV_SWITCH, "1") == "0" or _BROKEN or n_atoms > MAX_ATOMS:
        return False
    if not torch.cuda.is_available():
        return False
    try:
        from numba import cuda
    except ImportError:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a driver or toolkit numba cannot use
        return False


def _device_functions(cuda):
    """`_lars_cpu`'s per-sample functions compiled as CUDA device functions: the same
    code objects, with globals in which ``_chol_delete`` is the device version."""
    namespace = dict(vars(_lars_cpu))

    def device(name):
        py_func = getattr(_lars_cpu, name).py_func
        fn = types.FunctionType(py_func.__code__, namespace, name, py_func.__defaults__)
        namespace[name] = cuda.jit(device=True)(fn)
        return namespace[name]

    device("_chol_delete")
    return device("_lars_one"), device("_gap_one")


@functools.lru_cache(maxsize=8)
def _kernel(n_atoms, s_max):
    """The kernel for ``n_atoms`` atoms (the sizes of the local arrays are constants)."""
    global cuda  # a module global in the kernel: numba's simulator swaps it for its own
    from numba import boolean, cuda, float64, int64

    lars_one, gap_one = _device_functions(cuda)

    @cuda.jit
    def lars_rows(C, G, alpha, positive, max_steps, H, finished, steps, x_sq, primal, gap):
        i = cuda.grid(1)
        if i >= C.shape[0]:
            return
        corr = cuda.local.array(n_atoms, float64)
        u = cuda.local.array(n_atoms, float64)
        isact = cuda.local.array(n_atoms, boolean)
        L = cuda.local.array((s_max, s_max), float64)
        act = cuda.local.array(s_max, int64)
        sgn = cuda.local.array(s_max, float64)
        hA = cuda.local.array(s_max, float64)
        w = cuda.local.array(s_max, float64)
        z = cuda.local.array(s_max, float64)
        # uninitialised: the factor's entries are written before they are read (its
        # upper triangle only by the row deletion, which sets it first)
        ok, n_steps = lars_one(C[i], G, alpha, positive, max_steps, H[i], corr, L, act, sgn,
                               hA, w, u, z, isact)
        finished[i] = ok
        steps[i] = n_steps
        primal[i], gap[i] = gap_one(C[i], G, H[i], x_sq[i], alpha, positive, corr)

    return lars_rows


def run_kernel(C, G, alpha, positive, x_sq, H, finished, steps, primal, gap, *, s_max=S_MAX,
               max_steps=None, stream=0):
    """Launch the kernel on arrays numba's CUDA target accepts (device arrays, torch CUDA
    tensors; numpy arrays under its simulator): every row of ``C`` coded into ``H``
    (zeroed by the caller), with its flag, event count, objective and gap."""
    n, k = C.shape
    if not n or not k:
        return
    max_steps = 4 * k if max_steps is None else int(max_steps)
    # local arrays sized for the next power of two (fewer kernels to compile)
    size = 1 << max(k - 1, 0).bit_length()
    kernel = _kernel(size, min(s_max, size))
    blocks = (n + _THREADS - 1) // _THREADS
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():  # numba's note on small grids is not for our users
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        kernel[blocks, _THREADS, stream](C, G, float(alpha), bool(positive), max_steps, H,
                                         finished, steps, x_sq, primal, gap)


def _as_cuda_array(cuda, t):
    try:
        return cuda.as_cuda_array(t, sync=False)
    except TypeError:  # a numba without the ``sync`` argument
        return cuda.as_cuda_array(t)


def lars_path_gram_cuda(C, G, alpha, *, positive=False, x_sq, s_max=S_MAX):
    """Lasso codes by homotopy for every row of the CUDA tensor ``C = X D^T``.

    Returns
    -------
    H : tensor (n_samples, n_components), float64, on ``C``'s device.
    finished : bool tensor (n_samples,), False where the path gave up (more than
        ``s_max`` atoms at once, linearly dependent atoms, too many events).
    primal, gap : tensors (n_samples,), every sample's objective and duality gap.

    Raises RuntimeError where the kernel could not be compiled or launched (after which
    `cuda_homotopy_available` is False in this process).
    """
    from numba import cuda

    device = C.device
    C = C.to(torch.float64).contiguous()
    G = G.to(device, torch.float64).contiguous()
    x_sq = x_sq.to(torch.float64).contiguous()
    n = C.shape[0]
    H = torch.zeros_like(C)
    finished = torch.ones(n, dtype=torch.bool, device=device)
    steps = torch.zeros(n, dtype=torch.int64, device=device)
    primal, gap = 0.5 * x_sq, torch.zeros_like(x_sq)
    try:
        index = device.index if device.index is not None else torch.cuda.current_device()
        with torch.cuda.device(index), cuda.gpus[index]:
            # the kernel runs on torch's stream, after the work that made C: the arrays
            # need no synchronisation of their own
            stream = cuda.external_stream(torch.cuda.current_stream(index).cuda_stream)
            arrays = [_as_cuda_array(cuda, t)
                      for t in (C, G, x_sq, H, finished, steps, primal, gap)]
            run_kernel(*arrays[:2], alpha, positive, *arrays[2:], s_max=s_max, stream=stream)
    except Exception as exc:  # numba's CUDA errors share no base class
        _BROKEN.append(exc)
        warnings.warn(f"The CUDA homotopy kernel could not run ({exc!r}); the batched "
                      "homotopy is used instead.", RuntimeWarning, stacklevel=2)
        raise RuntimeError("CUDA homotopy kernel unavailable") from exc
    return H, finished, primal, gap
