"""Greedy ℓ0 codes (OMP, OLS) compiled for the CPU (numba), samples shared among our
threads: the CPU's engine of `skl_sparse._solvers._greedy` (which states the algorithms).

Both grow one factorisation per sample. With ``L`` the Cholesky factor of the chosen
atoms' Gram matrix, ``Z = L^{-1} G_{A:}`` (a row per chosen atom, a column per atom, in
the order of positions) and
``w = L^{-1} c_A``: when atom ``a`` joins, row ``n`` of ``L`` is ``Z[:, a]``, the new row of
``Z`` is the correlation of every atom with the new orthonormal direction, so the
residual's correlations lose ``w_n Z[n, :]`` and the squared residual ``w_n^2``: O(n k) a
step, and the codes ``L^{-T} w`` are solved once, at the end. OLS divides the squared
correlations by ``G_jj - ||Z[:, j]||^2``, kept for every atom as ``Z`` grows. The
permutation of scikit-learn's swaps is kept too, so that its ties (the first position of
the best score) are ours.
"""

import math

import numpy as np
import torch
from numba import njit

from .._device._threads import n_threads, run_tasks
from ._greedy import GreedyResult

__all__ = ["greedy_arrays", "greedy_cpu"]

_MIN_ROWS_PER_TASK = 16
# an OLS candidate whose part orthogonal to the chosen atoms is below this fraction of its
# norm is dependent on them
_DEPENDENT = 1e-10
# choices this close (relative) are a tie: duplicated or negated atoms differ by rounding
# alone, where the order of the arithmetic (a BLAS's, or ours) would decide
_TIE = 1e-12


@njit(cache=True, fastmath=False)
def _choose(alpha, g_diag, q, n, ols, eps, score):
    """The position of the next atom: OMP the largest ``|alpha|`` over every position (a
    chosen atom there means the residual is done); OLS the largest ``alpha^2 / (G_jj -
    q_j)`` among the atoms not chosen and not dependent on them (``g_diag`` and ``q`` in
    position order, as ``alpha``). Scores equal to rounding (`_TIE`) are a tie, which the
    first position wins, as in scikit-learn. -1 where none. ``score``: scratch."""
    k = alpha.shape[0]
    first = n if ols else 0
    best = -1.0
    for p in range(first, k):
        if ols:
            den = g_diag[p] - q[p]
            v = alpha[p] * alpha[p] / den if den > _DEPENDENT * g_diag[p] and den > eps else -1.0
        else:
            v = abs(alpha[p])
        score[p] = v
        best = max(best, v)
    if best < 0.0:
        return -1
    threshold = best * (1.0 - _TIE)
    for p in range(first, k):
        if score[p] >= threshold:
            return p
    return -1


@njit(cache=True, fastmath=False)
def _join(L, Z, w, n, GT, perm, lam, c_a):
    """The atom at position ``lam`` (correlation ``c_a``) joins the ``n`` chosen ones: row
    ``n`` of ``L`` (its diagonal entry set by the caller), of ``Z`` (in position order, as
    its other rows) and of ``w``."""
    acc = c_a
    for i in range(n):
        L[n, i] = Z[i, lam]
        acc -= L[n, i] * w[i]
    Lnn = L[n, n]
    w[n] = acc / Lnn
    row = GT[perm[lam]]
    for p in range(Z.shape[1]):
        Z[n, p] = row[perm[p]]
    for i in range(n):
        f = L[n, i]
        for p in range(Z.shape[1]):
            Z[n, p] -= f * Z[i, p]
    for p in range(Z.shape[1]):
        Z[n, p] /= Lnn


@njit(cache=True, fastmath=False)
def _swap(arrays, i, j):
    for x in arrays:
        x[i], x[j] = x[j], x[i]


@njit(cache=True, fastmath=False)
def _greedy_one(c, GT, g_diag, x_sq, max_atoms, tol, use_tol, ols, eps, h, perm, xy, alpha,
                gd, q, score, L, w, Z):
    """One sample, coded into ``h``; returns (atoms used, squared residual, premature).
    ``G`` is read as scikit-learn reads it (``G[j, a]`` for candidate ``j`` and chosen
    ``a``: a Gram matrix computed by a product need not be exactly symmetric, and its last
    bits decide ties), through ``GT``, its transpose, by rows; ``g_diag``: its diagonal.
    ``xy``, ``alpha``, ``gd`` and ``q`` follow the positions of ``perm``."""
    k = c.shape[0]
    for p in range(k):
        perm[p] = p
        xy[p] = c[p]
        alpha[p] = c[p]
        gd[p] = g_diag[p]
        h[p] = 0.0
        q[p] = 0.0
    n, res, premature = 0, x_sq, False
    while True:  # ends with the budget, the tolerance, or no atom left to choose
        lam = _choose(alpha, gd, q, n, ols, eps, score)
        if lam < n or alpha[lam] * alpha[lam] < eps:  # a chosen atom again, or no signal
            premature = True
            break
        Lkk = gd[lam] - q[lam]
        if Lkk <= eps and n > 0:  # dependent on the chosen atoms
            premature = True
            break
        L[n, n] = math.sqrt(Lkk)
        _join(L, Z, w, n, GT, perm, lam, xy[lam])
        perm[n], perm[lam] = perm[lam], perm[n]
        _swap((xy, alpha, gd, q), n, lam)
        for i in range(n + 1):
            Z[i, n], Z[i, lam] = Z[i, lam], Z[i, n]
        wn = w[n]
        for p in range(k):  # the new direction's share of the residual, and of each atom
            z = Z[n, p]
            alpha[p] -= wn * z
            q[p] += z * z
        res -= wn * wn
        n += 1
        if (abs(res) <= tol) if use_tol else n == max_atoms:
            break
    for i in range(n - 1, -1, -1):  # the codes: L^T gamma = w
        acc = w[i]
        for t in range(i + 1, n):
            acc -= L[t, i] * h[perm[t]]
        h[perm[i]] = acc / L[i, i]
    return n, max(res, 0.0), premature


@njit(cache=True, nogil=True)
def _greedy_rows(C, G, GT, x_sq, max_atoms, tol, use_tol, ols, eps, H, n_active, residual,
                 premature, lo, hi):
    """Rows ``lo:hi``, sequentially; releases the GIL so that threads can share a call."""
    k = C.shape[1]
    size = k if use_tol else max_atoms
    perm = np.empty(k, dtype=np.int64)
    xy, alpha, gd, q, score = np.empty(k), np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    g_diag = np.diag(G).copy()
    L, w, Z = np.empty((size, size)), np.empty(size), np.empty((size, k))
    for r in range(lo, hi):
        n_active[r], residual[r], premature[r] = _greedy_one(
            C[r], GT, g_diag, x_sq[r], max_atoms, tol, use_tol, ols, eps, H[r], perm, xy,
            alpha, gd, q, score, L, w, Z)


def greedy_arrays(C, G, x_sq, *, n_nonzero_coefs, tol=None, method="omp"):
    """`greedy_cpu` on C-contiguous float64 numpy arrays: the fields of a `GreedyResult`
    as arrays."""
    n, k = C.shape
    H = np.zeros((n, k))
    n_active = np.zeros(n, dtype=np.int64)
    residual = np.array(x_sq, dtype=np.float64)
    premature = np.zeros(n, dtype=np.bool_)
    if n and k:
        args = (C, G, np.ascontiguousarray(G.T), x_sq, int(min(n_nonzero_coefs, k)),
                -1.0 if tol is None else float(tol),
                tol is not None, method == "ols", float(np.finfo(np.float64).eps), H,
                n_active, residual, premature)
        workers = max(1, min(n_threads(), n // _MIN_ROWS_PER_TASK))
        n_tasks = workers * (4 if n >= 64 * _MIN_ROWS_PER_TASK else 1)
        bounds = np.linspace(0, n, n_tasks + 1).astype(np.int64)
        run_tasks(lambda t: _greedy_rows(*args, bounds[t], bounds[t + 1]), n_tasks, workers)
    return H, n_active, residual, premature


def greedy_cpu(C, G, x_sq, *, n_nonzero_coefs, tol=None, method="omp"):
    """OMP or OLS codes of every row of the CPU tensor ``C = X D^T``: a `GreedyResult`
    (`skl_sparse._solvers._greedy`), computed by `greedy_arrays` on the tensors' memory."""
    arrays = (np.ascontiguousarray(t.numpy(), dtype=np.float64) for t in (C, G, x_sq))
    out = greedy_arrays(*arrays, n_nonzero_coefs=n_nonzero_coefs, tol=tol, method=method)
    return GreedyResult(*(torch.from_numpy(a) for a in out))
