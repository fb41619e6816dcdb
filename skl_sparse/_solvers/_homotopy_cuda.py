"""The LARS-lasso homotopy of `skl_sparse._solvers._homotopy_cpu` on a GPU, one sample
per warp.

The batched torch homotopy of `skl_sparse._solvers._homotopy_torch` advances every sample
by one event per step in lock-step, each step a few dozen kernels and a host round trip.
Here the whole path of a sample runs in one kernel launch, as the CPU follows it (the same
events, the same ties), laid out for a GPU (`_warp_kernel`): each lane of a warp holds the
correlations of every 32nd atom in registers, the next event is a reduction over the lanes,
and the Cholesky factor of the active set and its small triangular solves are in shared
memory. The per-sample steps the CPU runs (`skl_sparse._solvers._homotopy_steps`) are
compiled again as device functions.

The factor has a fixed capacity (32 or 64 atoms): a sample whose path needs more atoms at
once than ``s_max`` stops, reported unfinished, like a sample with linearly dependent
atoms, and `lasso_gram` finishes it with its iterative solver. The kernel also computes
every sample's objective and duality gap, so the samples it finished leave at once.

The kernel is written for numba's CUDA target. Its tests run it under numba's CUDA
simulator; the package ships it compiled to PTX (``benchmarks/cuda_kernels_ptx.py
--write``, for every size in `shipped_variants`), which the CUDA driver loads and runs
on torch's stream (`skl_sparse._device._cuda_driver`): on a GPU it needs torch and the
driver only, not numba's CUDA target. Where the driver cannot load it, `lasso_gram` keeps
its torch solvers (`cuda_homotopy_available`). The PTX records `source_digest`, a digest
of the device code alone (`_homotopy_steps` and the kernel's functions here): the rest of
this module and the CPU's code change without rebuilding it.
"""

import ast
import functools
import hashlib
import inspect
import math
import types
import warnings

import torch

from .._config import ENV_CUDA_KERNELS, get_config
from .._device import _cuda_driver
from . import _homotopy_steps as steps
from ._homotopy import HomotopyResult

__all__ = ["KERNEL", "S_MAX", "cuda_homotopy_available", "homotopy_cuda"]

# atoms a sample's path may hold at once: the rows left unfinished by a 32-atom factor run
# again with 64. The factor is s_max x s_max float64 in shared memory, so a small one lets
# more blocks share a multiprocessor, and most codes of whitened patches need fewer than
# 32 atoms (the shares and resources: benchmarks/README.md)
S_MAX = (32, 64)
# the factor capacities shipped, and the most atoms the kernel takes (registers: 1024 / 32
# correlations a lane); larger dictionaries keep the torch solvers
CAPACITIES = (32, 64)
MAX_ATOMS = 1024
# active sets from which the triangular solves use every lane (|S| barriers, ~100 cycles
# each) rather than lane 0 alone (|S|^2 dependent steps, ~12 cycles each)
PARALLEL_FROM = 16
# numba.cuda, bound by the first `_warp_kernel`: a module global, because numba's CUDA
# simulator (the tests') swaps its own module in for the kernel functions' global ``cuda``
cuda = None
_WARP = 32
_NONE = 1 << 30  # "no atom" in the reductions


def _size(n_atoms):
    """The kernel size for ``n_atoms``: the next power of two, at least a warp."""
    return max(1 << max(n_atoms - 1, 0).bit_length(), _WARP)


def _capacity(s_max):
    return next((c for c in CAPACITIES if s_max <= c), None)


def shipped_variants():
    """The (size, capacity) pairs shipped as PTX: every power of two from 32 to
    `MAX_ATOMS` atoms, with each capacity up to it."""
    sizes = [_WARP << i for i in range((MAX_ATOMS // _WARP).bit_length())]
    return [(size, c) for size in sizes for c in CAPACITIES if c <= size]


def variant_name(size, capacity):
    return f"lars_warp_{size}_{capacity}"


# the per-sample steps compiled as device functions, callees first
DEVICE_FUNCTIONS = ("chol_delete", "chol_append", "chol_solve", "remove_slot", "primal_and_gap")


def source_digest():
    """A digest of the device code: `_homotopy_steps` and this module's kernel functions and
    constants (their syntax trees, docstrings and comments left out). The shipped PTX records
    the digest of the code it was compiled from (a test compares them); nothing else is
    digested, so code that runs on the CPU only changes without rebuilding the PTX."""
    digest = hashlib.sha256(repr((_WARP, _NONE)).encode())
    for code in (steps, _device_functions, _warp_kernel, kernel_signature):
        tree = ast.parse(inspect.getsource(code))
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(_dump(tree).encode())
    return digest.hexdigest()


def _dump(node):
    """``ast.dump`` without the fields that are None or empty: the same text on every
    Python (3.12 added ``type_params=[]`` to every function; 3.13 leaves such fields out)."""
    if isinstance(node, list):
        return "[" + ", ".join(_dump(n) for n in node) + "]"
    if not isinstance(node, ast.AST):
        return repr(node)
    fields = ((f, getattr(node, f, None)) for f in node._fields)
    return type(node).__name__ + "(" + ", ".join(
        f"{f}={_dump(v)}" for f, v in fields if v is not None and v != []) + ")"


class KernelStatus:
    """The shipped kernel in this process: why it was turned off, if it was, and the
    devices on which its first results were checked against torch's
    (`skl_sparse._solvers._engines.compiled_homotopy`)."""

    def __init__(self):
        self.off_reason = None
        self.checked = set()

    def turn_off(self, reason, stacklevel=2):
        """Turn the kernel off for the rest of the process (`cuda_homotopy_available` is
        False from now on), with one RuntimeWarning: "The CUDA homotopy kernel " +
        ``reason``."""
        self.off_reason = self.off_reason or reason
        warnings.warn(
            f"The CUDA homotopy kernel {reason}; skl_sparse codes with its torch solvers "
            f"instead in this process (skl_sparse.set_config(cuda_kernels=False) or "
            f"{ENV_CUDA_KERNELS}=0 turns the kernel off).",
            RuntimeWarning, stacklevel=stacklevel + 1)


KERNEL = KernelStatus()


def cuda_homotopy_available(n_atoms=0):
    """Whether `homotopy_cuda` can run: a CUDA GPU (not ROCm), at most `MAX_ATOMS` atoms,
    the kernel shipped, the configuration's ``cuda_kernels`` on, and no earlier failure to
    load or launch it."""
    if not get_config()["cuda_kernels"] or KERNEL.off_reason or n_atoms > MAX_ATOMS:
        return False
    if not torch.cuda.is_available() or torch.version.hip:
        return False
    return variant_name(_size(n_atoms), CAPACITIES[0]) in _cuda_driver.kernel_names()


def _device_functions(cuda):
    """The per-sample steps (`DEVICE_FUNCTIONS` of `_homotopy_steps`) compiled as CUDA device
    functions: the same code objects, with globals in which their callees are the device
    versions."""
    namespace = dict(vars(steps))
    for name in DEVICE_FUNCTIONS:
        py_func = getattr(steps, name).py_func
        fn = types.FunctionType(py_func.__code__, namespace, name, py_func.__defaults__)
        namespace[name] = cuda.jit(device=True)(fn)
    return namespace


@functools.lru_cache(maxsize=8)
def _warp_kernel(n_atoms, capacity):  # noqa: C901, PLR0915 (compiled kernel)
    """The homotopy with one sample per warp (a block of 32 threads), for ``n_atoms`` (a
    multiple of 32) atoms and a factor of ``capacity`` atoms (the kernel's ``s_max``, at
    most ``capacity``, is a parameter, as is ``parallel_from``).

    The same path as `_homotopy_cpu._lars_one`, laid out for a GPU: lane ``l`` holds the
    correlations and the direction's products of atoms ``l, l + 32, ...`` in registers
    (8 of each for 256 atoms), reads the rows of ``G`` coalesced, and the next event is a
    reduction over the lanes; the factor of the active set and its small triangular solves
    (O(|S|^2)) are in shared memory. Its triangular solves (the direction, and the new row
    of a joining atom) are done by lane 0 as on the CPU (`_homotopy_steps.chol_solve`,
    `_homotopy_steps.chol_append`) for active sets of fewer than ``parallel_from`` atoms, and by
    all the lanes, a column of the factor per barrier, for larger ones (O(|S|) barriers
    instead of O(|S|^2) sequential operations); a leaving atom's rotations stay with lane
    0. Ties between events are broken as the CPU code breaks them; the arithmetic differs
    from it only in the order of the sums."""
    global cuda
    from numba import boolean, cuda, float64, int32

    functions = _device_functions(cuda)
    chol_append, chol_solve = functions["chol_append"], functions["chol_solve"]
    remove_slot, primal_and_gap = functions["remove_slot"], functions["primal_and_gap"]
    per_lane = n_atoms // _WARP
    slack = steps.SLACK

    @cuda.jit(device=True)
    def best_of_lanes(red_v, red_i, lane, v, i, largest, low_index):
        """The lanes' best ``(v, i)``: the largest (or smallest) ``v``, ties to the lower
        (or higher) ``i``; every lane gets it."""
        red_v[lane] = v
        red_i[lane] = i
        cuda.syncthreads()
        off = _WARP // 2
        while off > 0:
            if lane < off:
                v1, i1, v2, i2 = red_v[lane], red_i[lane], red_v[lane + off], red_i[lane + off]
                better = v2 > v1 if largest else v2 < v1
                if v2 == v1:
                    better = i2 < i1 if low_index else i2 > i1
                if better:
                    red_v[lane] = v2
                    red_i[lane] = i2
            cuda.syncthreads()
            off //= 2
        v, i = red_v[0], red_i[0]
        cuda.syncthreads()
        return v, i

    @cuda.jit(device=True)
    def sum_of_lanes(red_v, lane, v):
        red_v[lane] = v
        cuda.syncthreads()
        off = _WARP // 2
        while off > 0:
            if lane < off:
                red_v[lane] += red_v[lane + off]
            cuda.syncthreads()
            off //= 2
        v = red_v[0]
        cuda.syncthreads()
        return v

    @cuda.jit(device=True)
    def forward_lanes(L, n, r, y, lane):
        """``y[:n] = L[:n, :n]^{-1} r[:n]`` (``r`` overwritten): lanes share the rows, one
        column of ``L`` per barrier."""
        for t in range(n):
            yt = r[t] / L[t, t]
            for q in range(lane, n, _WARP):
                if q > t:
                    r[q] -= L[q, t] * yt
            if lane == 0:
                y[t] = yt
            cuda.syncthreads()

    @cuda.jit(device=True)
    def backward_lanes(L, n, r, w, lane):
        """``w[:n] = L[:n, :n]^{-T} r[:n]`` (``r`` overwritten), a row of ``L`` per barrier."""
        for q in range(n - 1, -1, -1):
            wq = r[q] / L[q, q]
            for t in range(lane, q, _WARP):
                r[t] -= L[q, t] * wq
            if lane == 0:
                w[q] = wq
            cuda.syncthreads()

    @cuda.jit
    def lars_rows(C, G, alpha, positive, max_steps, s_max, parallel_from, H, finished, steps,  # noqa: C901, PLR0912, PLR0915 (compiled kernel)
                  x_sq, primal, gap):
        row = cuda.blockIdx.x
        lane = cuda.threadIdx.x
        m = C.shape[1]
        L = cuda.shared.array((capacity, capacity), float64)
        act = cuda.shared.array(capacity, int32)
        sgn = cuda.shared.array(capacity, float64)
        hA = cuda.shared.array(capacity, float64)
        w = cuda.shared.array(capacity, float64)
        z = cuda.shared.array(capacity, float64)
        y = cuda.shared.array(capacity, float64)
        red_v = cuda.shared.array(_WARP, float64)
        red_i = cuda.shared.array(_WARP, int32)
        flag = cuda.shared.array(1, int32)
        value = cuda.shared.array(1, float64)
        corr = cuda.local.array(per_lane, float64)
        u = cuda.local.array(per_lane, float64)
        isact = cuda.local.array(per_lane, boolean)
        tiny = 1e-14
        best, best_t = -1.0, _NONE
        for jj in range(per_lane):
            t = lane + _WARP * jj
            c = C[row, t] if t < m else 0.0
            corr[jj] = c
            isact[jj] = t >= m  # padding: never joins
            v = c if positive else abs(c)
            if t < m and v > best:
                best, best_t = v, t
        lam, j = best_of_lanes(red_v, red_i, lane, best, best_t, True, True)
        n = 0
        step = 0
        ok = lam <= alpha
        while not ok:
            if n == s_max:
                break
            # atom j joins: the factor gains one row
            if n < parallel_from:
                if lane == 0:
                    flag[0] = 0 if chol_append(L, n, G, j, act, z) else 1
            else:
                for q in range(lane, n, _WARP):
                    z[q] = G[j, act[q]]
                cuda.syncthreads()
                forward_lanes(L, n, z, y, lane)
                part = 0.0
                for q in range(lane, n, _WARP):
                    part += y[q] * y[q]
                d = G[j, j] - sum_of_lanes(red_v, lane, part)
                if d > 1e-10 * G[j, j]:  # else linearly dependent (as `chol_append`)
                    for q in range(lane, n, _WARP):
                        L[n, q] = y[q]
                if lane == 0:
                    flag[0] = 0 if d > 1e-10 * G[j, j] else 1
                    if flag[0] == 0:
                        L[n, n] = math.sqrt(d)
                        act[n] = j
            if lane == 0:
                hA[n] = 0.0
            # (the lane's arrays are indexed by loop counters only: registers, not memory)
            for jj in range(per_lane):
                if lane + _WARP * jj == j:
                    value[0] = corr[jj]
            cuda.syncthreads()
            if flag[0] == 1:
                break
            for jj in range(per_lane):
                if lane + _WARP * jj == j:
                    isact[jj] = True
            if lane == 0:
                sgn[n] = 1.0 if (positive or value[0] > 0) else -1.0
            n += 1
            cuda.syncthreads()
            while True:
                step += 1
                if step > max_steps:
                    break
                # direction w = (L L^T)^{-1} sgn
                if n < parallel_from:
                    if lane == 0:
                        chol_solve(L, n, sgn, z, w)
                else:
                    for q in range(lane, n, _WARP):
                        z[q] = sgn[q]
                    cuda.syncthreads()
                    forward_lanes(L, n, z, y, lane)
                    for q in range(lane, n, _WARP):
                        z[q] = y[q]
                    cuda.syncthreads()
                    backward_lanes(L, n, z, w, lane)
                cuda.syncthreads()
                for jj in range(per_lane):
                    u[jj] = 0.0
                # u = G[act] w, four atoms a pass, summed as `_homotopy_cpu._lars_one` does
                q = 0
                while q + 4 <= n:
                    w0, w1, w2, w3 = w[q], w[q + 1], w[q + 2], w[q + 3]
                    r0, r1, r2, r3 = act[q], act[q + 1], act[q + 2], act[q + 3]
                    for jj in range(per_lane):
                        t = lane + _WARP * jj
                        if t < m:
                            u[jj] += (w0 * G[r0, t] + w1 * G[r1, t] + w2 * G[r2, t]
                                      + w3 * G[r3, t])
                    q += 4
                while q < n:
                    wq = w[q]
                    a_q = act[q]
                    for jj in range(per_lane):
                        t = lane + _WARP * jj
                        if t < m:
                            u[jj] += wq * G[a_q, t]
                    q += 1
                # next event: end of the path, an atom joins, a coefficient crosses zero
                gamma = lam - alpha
                floor = tiny * lam
                jn = _NONE
                for jj in range(per_lane):
                    if isact[jj]:
                        continue
                    a = u[jj]
                    # as on the CPU: no division where the step cannot win
                    num, den = lam - corr[jj], 1.0 - a
                    if den > tiny and 0.0 < num and num < gamma * den * slack:
                        g = num / den
                        if floor < g and g < gamma:
                            gamma, jn = g, lane + _WARP * jj
                    num, den = lam + corr[jj], 1.0 + a
                    if not positive and den > tiny and 0.0 < num and num < gamma * den * slack:
                        g = num / den
                        if floor < g and g < gamma:
                            gamma, jn = g, lane + _WARP * jj
                gamma, jn = best_of_lanes(red_v, red_i, lane, gamma, jn, False, True)
                event = 1 if jn < _NONE else 0
                g_drop, sd = gamma, -1
                for q in range(lane, n, _WARP):
                    if hA[q] * w[q] < 0.0:
                        g = -hA[q] / w[q]
                        if 0.0 < g and g <= g_drop:
                            g_drop, sd = g, q
                g_drop, sd = best_of_lanes(red_v, red_i, lane, g_drop, sd, False, False)
                if sd >= 0:
                    gamma, event = g_drop, 2
                for q in range(lane, n, _WARP):
                    hA[q] += gamma * w[q]
                for jj in range(per_lane):
                    corr[jj] -= gamma * u[jj]
                lam -= gamma
                cuda.syncthreads()
                if event == 0:
                    ok = True
                    break
                if event == 1:
                    j = jn
                    break
                # slot sd leaves (every lane reads its atom before lane 0 shifts the slots)
                a_sd = act[sd]
                for jj in range(per_lane):
                    if lane + _WARP * jj == a_sd:
                        isact[jj] = False
                cuda.syncthreads()
                if lane == 0:
                    remove_slot(L, n, sd, act, sgn, hA)
                n -= 1
                cuda.syncthreads()
                if n == 0:
                    break
            if step > max_steps or n == 0:
                break
        for q in range(lane, n, _WARP):
            H[row, act[q]] = hA[q]
        if lane == 0:
            finished[row] = ok
            steps[row] = min(step, max_steps)
        cuda.syncthreads()
        # objective and duality gap, as `_homotopy_cpu._gap_one` (G h over the active set)
        ch, l1, hgh, dual_norm = 0.0, 0.0, 0.0, 0.0
        for jj in range(per_lane):
            t = lane + _WARP * jj
            if t < m:
                gh = 0.0
                for q in range(n):
                    gh += G[act[q], t] * hA[q]
                h_t, c_t = H[row, t], C[row, t]
                ch += c_t * h_t
                l1 += abs(h_t)
                hgh += h_t * gh
                v = c_t - gh if positive else abs(c_t - gh)
                if v > dual_norm:
                    dual_norm = v
        ch = sum_of_lanes(red_v, lane, ch)
        l1 = sum_of_lanes(red_v, lane, l1)
        hgh = sum_of_lanes(red_v, lane, hgh)
        dual_norm, _ = best_of_lanes(red_v, red_i, lane, dual_norm, 0, True, True)
        if lane == 0:
            primal[row], gap[row] = primal_and_gap(x_sq[row], ch, hgh, l1, dual_norm, alpha)

    return lars_rows


def kernel_signature():
    """The kernel's numba signature: contiguous float64 / bool / int64 arrays."""
    from numba import boolean, float64, int64, void

    matrix, vector = float64[:, ::1], float64[::1]
    return void(matrix, matrix, float64, boolean, int64, int64, int64, matrix, boolean[::1],
                int64[::1], vector, vector, vector)


def _arguments(C, G, alpha, positive, x_sq, H, finished, steps, primal, gap, s_max,
               max_steps, parallel_from=PARALLEL_FROM):
    """The kernel for ``C``'s width and ``s_max``, its blocks, and its arguments."""
    n, k = C.shape
    arrays = (C, G, x_sq, H, finished, steps, primal, gap)
    if not all(a.flags.c_contiguous if hasattr(a, "flags") else a.is_contiguous()
               for a in arrays):  # the kernel's arrays are C-contiguous: strides unread
        raise ValueError("the homotopy kernel takes C-contiguous arrays")
    if s_max > CAPACITIES[-1]:
        raise ValueError(f"s_max={s_max}: the kernel's factor holds {CAPACITIES[-1]} atoms")
    size = _size(k)
    max_steps = 4 * k if max_steps is None else int(max_steps)
    args = (C, G, float(alpha), bool(positive), max_steps, int(min(s_max, size)),
            int(parallel_from), H, finished, steps, x_sq, primal, gap)
    return (size, _capacity(min(s_max, size))), n, args


def run_kernel(C, G, alpha, positive, x_sq, H, finished, steps, primal, gap, *, s_max=32,
               max_steps=None, parallel_from=PARALLEL_FROM):
    """Launch the kernel with numba (its CUDA target, or its simulator on numpy arrays,
    as the tests do): every row of ``C`` coded into ``H`` (zeroed by the caller), with its
    flag, event count, objective and gap. ``parallel_from``: the active-set size from which
    all the lanes share the triangular solves."""
    if not C.shape[0] or not C.shape[1]:
        return
    variant, blocks, args = _arguments(C, G, alpha, positive, x_sq, H, finished, steps,
                                       primal, gap, s_max, max_steps, parallel_from)
    from numba.core.errors import NumbaPerformanceWarning

    with warnings.catch_warnings():  # numba's note on small grids is not for our users
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        _warp_kernel(*variant)[blocks, _WARP](*args)


def _launch(C, G, x_sq, alpha, positive, s_max, max_steps, parallel_from):
    """The shipped kernel over the rows of the float64 CUDA tensors ``C``, ``x_sq``: the
    codes, flags, event counts, objectives and gaps."""
    n = C.shape[0]
    H = torch.zeros_like(C)
    finished = torch.ones(n, dtype=torch.bool, device=C.device)
    steps = torch.zeros(n, dtype=torch.int64, device=C.device)
    primal, gap = 0.5 * x_sq, torch.zeros_like(x_sq)
    if n and C.shape[1]:
        variant, blocks, args = _arguments(C, G, alpha, positive, x_sq, H, finished, steps,
                                           primal, gap, s_max, max_steps, parallel_from)
        # on torch's stream, after the work that made C: no synchronisation
        _cuda_driver.launch(variant_name(*variant), blocks, _WARP, *args)
    return H, finished, steps, primal, gap


def homotopy_cuda(C, G, alpha, *, positive=False, x_sq, max_steps=None, s_max=S_MAX,
                  rerun_over=0, parallel_from=PARALLEL_FROM):
    """Lasso codes by homotopy for every row of the CUDA tensor ``C = X D^T``, one row per
    warp (`_warp_kernel`): a `HomotopyResult` (`skl_sparse._solvers._homotopy`).

    ``s_max``: the atoms a path may hold at once (at most 64), or increasing sizes: the
    rows left unfinished by one size run again with the next (one host synchronisation
    each; the small factor first, as more blocks fit a multiprocessor's shared memory),
    where they are more than ``rerun_over`` (fewer are left to the caller, who may finish
    them on the CPU sooner). A row is unfinished where its path needed more than the
    largest ``s_max`` atoms at once, met linearly dependent atoms or too many events.
    ``parallel_from``: the active-set size from which all the lanes share the triangular
    solves.

    Raises RuntimeError where the driver could not load or launch the kernel (after which
    `cuda_homotopy_available` is False in this process).
    """
    C = C.to(torch.float64).contiguous()
    G = G.to(C.device, torch.float64).contiguous()
    x_sq = x_sq.to(torch.float64).contiguous()
    sizes = (s_max,) if isinstance(s_max, int) else tuple(s_max)
    try:
        out = _launch(C, G, x_sq, alpha, positive, sizes[0], max_steps, parallel_from)
        for size in sizes[1:]:
            rows = torch.nonzero(~out[1]).squeeze(1)
            if len(rows) <= rerun_over:
                break
            part = _launch(C[rows], G, x_sq[rows], alpha, positive, size, max_steps,
                           parallel_from)
            for full, rerun in zip(out, part, strict=True):
                full[rows] = rerun
    # no driver library, a driver without a function we call, or its error
    except (OSError, AttributeError, _cuda_driver.CudaDriverError) as exc:
        KERNEL.turn_off(f"could not run ({exc})")
        raise RuntimeError("CUDA homotopy kernel unavailable") from exc
    H, finished, steps, primal, gap = out
    n_steps = steps.max() if len(steps) else torch.zeros((), dtype=torch.int64,
                                                         device=C.device)
    return HomotopyResult(H, finished, n_steps, primal, gap)
