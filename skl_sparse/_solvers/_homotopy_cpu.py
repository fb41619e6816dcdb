"""The LARS-lasso homotopy compiled for the CPU (numba), samples shared among threads:
the CPU's engine (`skl_sparse._solvers._homotopy`).

The batched torch homotopy (`skl_sparse._solvers._homotopy_torch`) keeps BLAS busy on a
GPU, but on a CPU its padded per-sample inverses stream through memory at every step.
Here each sample runs the textbook algorithm with its working data in cache: on the
active set ``S`` with signs ``s`` the direction is ``w = G_SS^{-1} s`` from a Cholesky
factor ``G_SS = L L^T`` that is extended by one row when an atom joins (O(|S|^2)) and
downdated by Givens rotations when a coefficient crosses zero and its atom leaves (the
per-sample steps of `skl_sparse._solvers._homotopy_steps`, which the GPU kernel shares).
Correlations ``c - G h`` of all atoms are updated by ``u = G_{:,S} w`` (O(n_components
|S|) per event). This is the algorithm of SPAMS' ``lassoGram``/``LARS`` and of
scikit-learn's ``lars_path_gram``, without the Python overhead.

A sample whose next atom is linearly dependent on its active set (Schur complement below
``1e-10 G_jj``) or that exceeds ``max_steps`` is reported unfinished.
"""

import numpy as np
import torch
from numba import njit

from .._device._threads import n_threads, run_tasks
from ._homotopy import HomotopyResult
from ._homotopy_steps import SLACK, chol_append, chol_solve, primal_and_gap, remove_slot

__all__ = ["homotopy_arrays", "homotopy_cpu"]

_MIN_ROWS_PER_TASK = 16


@njit(cache=True, fastmath=False)
def _lars_one(c0, G, alpha, positive, max_steps, h_out, corr, L, act, sgn, hA, w, u, z, isact):  # noqa: C901, PLR0912, PLR0915 (compiled kernel)
    """Homotopy for one sample; writes ``h_out``; returns (finished, n_steps)."""
    m = c0.shape[0]
    for j in range(m):
        corr[j] = c0[j]
        isact[j] = False
        h_out[j] = 0.0
    lam, j0 = -1.0, -1
    for j in range(m):
        v = corr[j] if positive else abs(corr[j])
        if v > lam:
            lam, j0 = v, j
    if lam <= alpha:
        return True, 0
    tiny = 1e-14
    n = 0
    j = j0
    step = 0
    while True:
        if n == L.shape[0]:  # no room for another atom (the GPU kernel's fixed-size factor)
            break
        # join atom j: extend the Cholesky factor by one row
        if not chol_append(L, n, G, j, act, z):
            break
        sgn[n] = 1.0 if (positive or corr[j] > 0) else -1.0
        hA[n] = 0.0
        isact[j] = True
        n += 1
        while True:
            step += 1
            if step > max_steps:
                break
            chol_solve(L, n, sgn, z, w)  # direction w = (L L^T)^{-1} sgn
            for t in range(m):
                u[t] = 0.0
            # u = G[act] w, four atoms a pass (a quarter of the passes over u; the warp
            # kernel sums in the same order)
            q = 0
            while q + 4 <= n:
                w0, w1, w2, w3 = w[q], w[q + 1], w[q + 2], w[q + 3]
                r0, r1, r2, r3 = act[q], act[q + 1], act[q + 2], act[q + 3]
                for t in range(m):
                    u[t] += w0 * G[r0, t] + w1 * G[r1, t] + w2 * G[r2, t] + w3 * G[r3, t]
                q += 4
            while q < n:
                wq = w[q]
                row = act[q]
                for t in range(m):
                    u[t] += wq * G[row, t]
                q += 1
            # next event: end of the path, an atom joins, a coefficient crosses zero
            gamma = lam - alpha
            event = 0
            jn = -1
            floor = tiny * lam
            for t in range(m):
                if isact[t]:
                    continue
                a = u[t]
                # a step g = num / den can only win if 0 < num < gamma den: most atoms
                # fail that test, and skip the division (the slack keeps every winner)
                num, den = lam - corr[t], 1.0 - a
                if den > tiny and 0.0 < num < gamma * den * SLACK:
                    g = num / den
                    if floor < g < gamma:
                        gamma, event, jn = g, 1, t
                num, den = lam + corr[t], 1.0 + a
                if not positive and den > tiny and 0.0 < num < gamma * den * SLACK:
                    g = num / den
                    if floor < g < gamma:
                        gamma, event, jn = g, 1, t
            sd = -1
            for q in range(n):
                if hA[q] * w[q] < 0.0:
                    g = -hA[q] / w[q]
                    if 0.0 < g <= gamma:
                        gamma, event, sd = g, 2, q
            for q in range(n):
                hA[q] += gamma * w[q]
            for t in range(m):
                corr[t] -= gamma * u[t]
            lam -= gamma
            if event == 0:
                for q in range(n):
                    h_out[act[q]] = hA[q]
                return True, step
            if event == 1:
                j = jn
                break
            # drop slot sd
            isact[act[sd]] = False
            remove_slot(L, n, sd, act, sgn, hA)
            n -= 1
            if n == 0:
                break
        if step > max_steps or n == 0:
            break
    for q in range(n):
        h_out[act[q]] = hA[q]
    return False, min(step, max_steps)


@njit(cache=True, fastmath=False)
def _gap_one(c, G, h, x_sq, alpha, positive, gh):
    """Objective and duality gap of the codes ``h`` of one sample, as `duality_gap`
    computes them, with ``G h`` summed over the support only."""
    m = c.shape[0]
    for t in range(m):
        gh[t] = 0.0
    ch, l1 = 0.0, 0.0
    for j in range(m):
        hj = h[j]
        if hj != 0.0:
            ch += c[j] * hj
            l1 += abs(hj)
            for t in range(m):
                gh[t] += G[j, t] * hj  # G is symmetric: row j is column j
    hgh, dual_norm = 0.0, 0.0
    for t in range(m):
        hgh += h[t] * gh[t]
        g = c[t] - gh[t]
        v = g if positive else abs(g)
        if v > dual_norm:
            dual_norm = v
    return primal_and_gap(x_sq, ch, hgh, l1, dual_norm, alpha)


@njit(cache=True, nogil=True)
def _lars_rows(C, G, alpha, positive, max_steps, H, finished, steps, x_sq, primal, gap,
               lo, hi):
    """Rows ``lo:hi``, sequentially, with their objectives and gaps; releases the GIL so
    that threads can share a call."""
    m = C.shape[1]
    corr = np.empty(m)
    L = np.zeros((m, m))
    act = np.empty(m, dtype=np.int64)
    sgn, hA, w, u, z = np.empty(m), np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    isact = np.empty(m, dtype=np.bool_)
    for i in range(lo, hi):
        ok, st = _lars_one(
            C[i], G, alpha, positive, max_steps, H[i], corr, L, act, sgn, hA, w, u, z, isact
        )
        finished[i] = ok
        steps[i] = st
        primal[i], gap[i] = _gap_one(C[i], G, H[i], x_sq[i], alpha, positive, corr)


def _run_rows(C, G, alpha, positive, max_steps, H, finished, steps, x_sq, primal, gap):
    """Spread the rows over our threads (`skl_sparse._device._threads`; no OpenMP runtime
    of our own: it would spin against torch's between calls)."""
    n = C.shape[0]
    workers = max(1, min(n_threads(), n // _MIN_ROWS_PER_TASK))
    args = (C, G, alpha, positive, max_steps, H, finished, steps, x_sq, primal, gap)
    # large calls: several tasks per thread even out rows of very different support sizes
    n_tasks = workers * (4 if n >= 64 * _MIN_ROWS_PER_TASK else 1)
    bounds = np.linspace(0, n, n_tasks + 1).astype(np.int64)
    run_tasks(lambda t: _lars_rows(*args, bounds[t], bounds[t + 1]), n_tasks, workers)


def homotopy_cpu(C, G, alpha, *, positive=False, x_sq, max_steps=None):
    """Lasso codes by homotopy for every row of the CPU tensor ``C = X D^T``: a
    `HomotopyResult` (`skl_sparse._solvers._homotopy`), computed by `homotopy_arrays` on
    the tensors' memory."""
    arrays = (np.ascontiguousarray(t.numpy(), dtype=np.float64) for t in (C, G, x_sq))
    out = homotopy_arrays(*arrays, alpha, positive=positive, max_steps=max_steps)
    return HomotopyResult(*(torch.from_numpy(np.asarray(a)) for a in out))


def homotopy_arrays(C, G, x_sq, alpha, *, positive=False, max_steps=None):
    """`homotopy_cpu` on C-contiguous float64 numpy arrays: the fields of a
    `HomotopyResult` as arrays (``n_steps`` 0-d).

    Every sample's objective and duality gap are computed in the same pass
    (O(n_components |support|) a sample, where a Gram-form check costs a full ``H @ G``).
    """
    n, m = C.shape
    max_steps = 4 * m if max_steps is None else int(max_steps)
    H = np.zeros((n, m))
    finished = np.ones(n, dtype=np.bool_)
    steps = np.zeros(n, dtype=np.int64)
    primal = 0.5 * x_sq
    gap = np.zeros_like(x_sq)
    if n and m:
        _run_rows(C, G, float(alpha), bool(positive), max_steps, H, finished, steps, x_sq,
                  primal, gap)
    return H, finished, steps.max(initial=0), primal, gap
