"""The per-sample steps of the LARS-lasso homotopy that both the CPU and the GPU run.

`skl_sparse._solvers._homotopy_cpu` calls them from its compiled loop over rows;
`skl_sparse._solvers._homotopy_cuda` compiles the same functions as CUDA device functions
for its warp kernel, which ships as PTX. This module is device code: the shipped PTX
records a digest of it (with the kernel's own functions), so a change here means
rebuilding the PTX (``python benchmarks/cuda_kernels_ptx.py --write``; the test that
compares the digests says how), while the CPU-only code next to it changes freely.
Everything here is compiled by numba: plain loops on arrays, no allocation, no Python
objects.
"""

import math

from numba import njit

# a step g = num / den is tested as num < gamma den * SLACK before the division: far above
# the rounding of gamma * den, so no winning step is skipped
SLACK = 1.0 + 1e-9


@njit(cache=True, fastmath=False)
def chol_delete(L, n, s):
    """Remove row/column ``s`` from ``G = L[:n, :n] L[:n, :n]^T`` in place."""
    # drop row s, then columns s..n-2 carry one superdiagonal entry: rotate it away
    for r in range(s, n - 1):
        for q in range(r + 2):
            L[r, q] = L[r + 1, q]
    for q in range(n):
        L[n - 1, q] = 0.0
    for r in range(s, n - 1):
        a, b = L[r, r], L[r, r + 1]
        rho = math.sqrt(a * a + b * b)
        cs, sn = a / rho, b / rho
        for t in range(r, n - 1):
            x, y = L[t, r], L[t, r + 1]
            L[t, r] = cs * x + sn * y
            L[t, r + 1] = -sn * x + cs * y
        L[r, r + 1] = 0.0
    for r in range(n - 1):
        L[r, n - 1] = 0.0


@njit(cache=True, fastmath=False)
def chol_append(L, n, G, j, act, z):
    """Extend the factor ``L[:n, :n]`` of ``G`` on the atoms ``act[:n]`` by atom ``j`` (also
    written to ``act[n]``); False, with nothing written, where ``j`` is linearly dependent
    on them (Schur complement below ``1e-10 G_jj``). ``z``: scratch."""
    for q in range(n):
        acc = G[j, act[q]]
        for t in range(q):
            acc -= L[q, t] * z[t]
        z[q] = acc / L[q, q]
    d = G[j, j]
    for q in range(n):
        d -= z[q] * z[q]
    if d <= 1e-10 * G[j, j]:
        return False
    for q in range(n):
        L[n, q] = z[q]
    L[n, n] = math.sqrt(d)
    act[n] = j
    return True


@njit(cache=True, fastmath=False)
def chol_solve(L, n, b, z, w):
    """``w[:n] = (L L^T)^{-1} b[:n]`` for the factor ``L[:n, :n]`` (``z``: scratch)."""
    for q in range(n):
        acc = b[q]
        for t in range(q):
            acc -= L[q, t] * z[t]
        z[q] = acc / L[q, q]
    for q in range(n - 1, -1, -1):  # by rows of L: contiguous reads
        wq = z[q] / L[q, q]
        w[q] = wq
        for t in range(q):
            z[t] -= L[q, t] * wq


@njit(cache=True, fastmath=False)
def remove_slot(L, n, s, act, sgn, hA):
    """Slot ``s`` of ``n`` leaves: its row and column of the factor, its atom, sign and
    coefficient (the later slots move down by one)."""
    chol_delete(L, n, s)
    for q in range(s, n - 1):
        act[q] = act[q + 1]
        sgn[q] = sgn[q + 1]
        hA[q] = hA[q + 1]


@njit(cache=True, fastmath=False)
def primal_and_gap(x_sq, ch, hgh, l1, dual_norm, alpha):
    """Objective and duality gap of one sample from its sums: ``||x||^2``, ``c.h``,
    ``h G h``, ``||h||_1`` and ``||D r||_inf`` (the dual point ``r min(1, alpha /
    ||D r||_inf)``, as in `_lasso.duality_gap`)."""
    r_sq = max(x_sq - 2.0 * ch + hgh, 0.0)
    primal = 0.5 * r_sq + alpha * l1
    scale = alpha / dual_norm if dual_norm > alpha else 1.0
    dual = scale * (x_sq - ch) - 0.5 * scale * scale * r_sq
    return primal, max(primal - dual, 0.0)
