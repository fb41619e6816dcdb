"""Greedy ℓ0 codes (OMP, OLS) compiled for the CPU (numba), samples shared among our
threads: the CPU's engine of `skl_sparse._solvers._greedy` (which states the algorithms).

Both grow one factorisation per sample, every array in the atoms' own order. With ``L``
the Cholesky factor of the chosen atoms' Gram matrix, ``Z = L^{-1} G_{A:}`` (a row per
chosen atom, a column per atom) and ``w = L^{-1} c_A``: when atom ``a`` joins, row ``n``
of ``L`` is ``Z[:, a]``, the new row of ``Z`` is the correlation of every atom with the
new orthonormal direction, so the residual's correlations lose ``w_n Z[n, :]`` and the
squared residual ``w_n^2``: O(n k) a step, and the codes ``L^{-T} w`` are solved once, at
the end. OLS divides the squared correlations by ``G_jj - ||Z[:, j]||^2``, kept for every
atom as ``Z`` grows. One pass over the atoms updates the correlations, these norms and
the scores of the next choice, with numpy's division semantics so that it vectorises (a
division checked for zero, as Python's, is a branch per atom). OMP's ties (the first
position of the best score) follow scikit-learn's swaps of positions, kept aside; OLS's
go to the first atom.
"""

import math

import numpy as np
import torch
from numba import njit

from .._device._threads import ROW_ALIGN, n_threads, run_tasks
from ._greedy import GreedyResult, RowProducts

__all__ = ["greedy_arrays", "greedy_cpu"]

_MIN_ROWS_PER_TASK = 16
# correlations computed at once by a task from `RowProducts`: a block that stays in a
# core's cache until its rows are coded
_BLOCK_BYTES = 1 << 20
# an OLS candidate whose part orthogonal to the chosen atoms is below this fraction of its
# norm is dependent on them
_DEPENDENT = 1e-10
# choices this close (relative) are a tie: duplicated or negated atoms differ by rounding
# alone, where the order of the arithmetic (a BLAS's, or ours) would decide
_TIE = 1e-12


@njit(cache=True, fastmath=False, error_model="numpy")
def _score(a, den, floor, ols):
    """An atom's score: OMP ``|a|`` (``a``: its correlation with the residual); OLS
    ``a^2 / den`` (``den``: the squared norm of its part orthogonal to the chosen atoms),
    -1 where ``den`` is at most ``floor`` (the atom is chosen or depends on the chosen
    ones). Branch-free, so that the loops over the atoms vectorise."""
    if not ols:
        return abs(a)
    v = a * a / den
    return v if den > floor else -1.0


@njit(cache=True, fastmath=False)
def _choose(score, pos, ols):
    """The next atom: among those whose score is within `_TIE` of the best (rounding
    alone tells duplicated or negated atoms apart), OMP's the first in scikit-learn's
    order of positions (``pos``: each atom's), OLS's the first atom. -1 where every score
    is negative (-1 marks an atom that is no candidate)."""
    best = -1.0
    for p in range(score.shape[0]):
        if score[p] > best:
            best = score[p]
    if best < 0.0:
        return -1
    threshold = best * (1.0 - _TIE)
    chosen = -1
    for p in range(score.shape[0]):
        if score[p] >= threshold:
            if ols:
                return p
            if chosen < 0 or pos[p] < pos[chosen]:
                chosen = p
    return chosen


@njit(cache=True, fastmath=False, error_model="numpy")
def _join(c, GT, L, Z, w, n, lam, Lnn):
    """Atom ``lam`` (``Lnn``: its factor's diagonal entry) joins the ``n`` chosen ones:
    row ``n`` of ``L`` and of ``w``, and row ``n`` of ``Z`` not yet divided by ``Lnn``.
    Returns ``w_n``."""
    L[n, n] = Lnn
    acc = c[lam]
    for i in range(n):
        L[n, i] = Z[i, lam]
        acc -= L[n, i] * w[i]
    w[n] = acc / Lnn
    row = GT[lam]
    for p in range(Z.shape[1]):
        Z[n, p] = row[p]
    for i in range(n):
        f = L[n, i]
        for p in range(Z.shape[1]):
            Z[n, p] -= f * Z[i, p]
    return w[n]


@njit(cache=True, fastmath=False)
def _solve_codes(L, w, n, atoms, h):
    """The codes of the ``n`` chosen atoms (``atoms[i]``: the ``i``-th one), ``L^T gamma =
    w``, written into ``h``."""
    for i in range(n - 1, -1, -1):
        acc = w[i]
        for t in range(i + 1, n):
            acc -= L[t, i] * h[atoms[t]]
        h[atoms[i]] = acc / L[i, i]


@njit(cache=True, fastmath=False, error_model="numpy")
def _greedy_one(c, GT, g_diag, floor0, x_sq, max_atoms, tol, use_tol, ols, eps, h, alpha, q,
                floor, score, L, w, Z, atoms, perm, pos):
    """OMP or OLS of one sample, coded into ``h``; returns (atoms used, squared residual,
    premature). Every array is in the atoms' own order; a chosen atom leaves OLS's
    candidates by its ``floor`` set to infinity (``floor0``: ``max(_DEPENDENT G_jj,
    eps)``, below which an atom's orthogonal part means it depends on the chosen ones).
    OMP keeps scikit-learn's positions (``perm``: the atom at each, ``pos``: the position
    of each) for its ties and its end: the best atom already chosen. ``G`` is read as
    scikit-learn reads it (``G[j, a]`` for candidate ``j`` and chosen ``a``: a Gram matrix
    computed by a product need not be exactly symmetric, and its last bits decide ties),
    through ``GT``, its transpose, by rows. The residual's correlations, ``q`` and the
    scores of the next choice are updated in one pass over the atoms."""
    k = c.shape[0]
    for p in range(k):
        alpha[p] = c[p]
        h[p] = 0.0
        q[p] = 0.0
        floor[p] = floor0[p]
        perm[p] = p
        pos[p] = p
        score[p] = _score(c[p], g_diag[p], floor0[p], ols)
    n, res, premature = 0, x_sq, False
    while True:  # ends with the budget, the tolerance, or no atom left to choose
        lam = _choose(score, pos, ols)
        # no candidate, a chosen atom again (OMP: the residual is done), or no signal
        if lam < 0 or pos[lam] < n or alpha[lam] * alpha[lam] < eps:
            premature = True
            break
        Lkk = g_diag[lam] - q[lam]
        if Lkk <= eps and n > 0:  # dependent on the chosen atoms
            premature = True
            break
        Lnn = math.sqrt(Lkk)
        wn = _join(c, GT, L, Z, w, n, lam, Lnn)
        atoms[n] = lam
        floor[lam] = np.inf
        # scikit-learn's swap: position n and the chosen atom's trade atoms
        other, at = perm[n], pos[lam]
        perm[n], perm[at], pos[lam], pos[other] = lam, other, n, at
        res -= wn * wn
        inv = 1.0 / Lnn
        for p in range(k):  # the new direction's share of the residual and of each atom
            z = Z[n, p] * inv
            Z[n, p] = z
            a = alpha[p] - wn * z
            alpha[p] = a
            qp = q[p] + z * z
            q[p] = qp
            score[p] = _score(a, g_diag[p] - qp, floor[p], ols)
        n += 1
        if (abs(res) <= tol) if use_tol else n == max_atoms:
            break
    _solve_codes(L, w, n, atoms, h)
    return n, max(res, 0.0), premature


@njit(cache=True, fastmath=False)
def _min_pos(values, n):
    """The smallest positive entry of ``values[:n]`` (inf where none: scikit-learn's
    ``min_pos``)."""
    best = np.inf
    for i in range(n):
        if 0.0 < values[i] < best:
            best = values[i]
    return best


@njit(cache=True, fastmath=False)
def _cholesky_solve(L, n, b, out):
    """``out[:n] = (L L^T)^{-1} b[:n]`` for the lower triangle of ``L[:n, :n]``."""
    for i in range(n):
        acc = b[i]
        for t in range(i):
            acc -= L[i, t] * out[t]
        out[i] = acc / L[i, i]
    for i in range(n - 1, -1, -1):
        acc = out[i]
        for t in range(i + 1, n):
            acc -= L[t, i] * out[t]
        out[i] = acc / L[i, i]


@njit(cache=True, fastmath=False)
def _equiangular(L, n, sign, ls, scratch, eps):
    """The unit-correlation direction of the ``n`` active atoms: ``ls = AA (G_AA)^{-1} s``
    with ``AA = (s^T G_AA^{-1} s)^{-1/2}``; returns ``AA``. An ill-conditioned factor gets
    a growing diagonal shift until ``AA`` is finite (as scikit-learn's `lars_path`)."""
    _cholesky_solve(L, n, sign, ls)
    total = 0.0
    for i in range(n):
        total += ls[i] * sign[i]
    if n == 1 and ls[0] == 0.0:  # a zero correlation's sign
        ls[0] = 1.0
        return 1.0
    aa = 1.0 / math.sqrt(total) if total > 0.0 else np.inf
    shift = 0
    while not math.isfinite(aa):
        for i in range(n):
            for t in range(n):
                scratch[i, t] = L[i, t]
            scratch[i, i] += 2.0 ** shift * eps
        _cholesky_solve(scratch, n, sign, ls)
        total = 0.0
        for i in range(n):
            total += ls[i] * sign[i]
        aa = 1.0 / math.sqrt(max(total, eps))
        shift += 1
    for i in range(n):
        ls[i] *= aa
    return aa


@njit(cache=True, fastmath=False)
def _lar_add(G, n, lam, perm, cov, sign, L, eps):
    """The atom at position ``lam`` joins the ``n`` active ones (position ``n``, its
    correlation's sign, a row of the factor ``L``); False, with its correlation zeroed
    and the positions unchanged, when it depends on them (it is never chosen again)."""
    sign[n] = 1.0 if cov[lam] > 0 else (-1.0 if cov[lam] < 0 else 0.0)
    perm[n], perm[lam] = perm[lam], perm[n]
    cov[n], cov[lam] = cov[lam], cov[n]
    a = perm[n]
    v = 0.0
    for i in range(n):
        acc = G[a, perm[i]]
        for t in range(i):
            acc -= L[n, t] * L[i, t]
        L[n, i] = acc / L[i, i]
        v += L[n, i] * L[n, i]
    diag = max(math.sqrt(abs(G[a, a] - v)), eps)
    if diag >= 1e-7:
        L[n, n] = diag
        return True
    cov[n] = 0.0
    perm[n], perm[lam] = perm[lam], perm[n]
    cov[n], cov[lam] = cov[lam], cov[n]
    return False


@njit(cache=True, fastmath=False)
def _lar_step(G, n, big, aa, perm, cov, corr, ls):
    """How far the active atoms move along ``ls`` before an inactive atom's correlation
    ties theirs (``big`` now, ``aa`` per unit step); ``corr``: the inactive atoms'
    correlations with the direction, rounded to 15 digits as scikit-learn does."""
    tiny = np.float32(1.1754944e-38)
    gamma = big / aa
    for p in range(n, cov.shape[0]):
        acc = 0.0
        for i in range(n):
            acc += G[perm[i], perm[p]] * ls[i]
        corr[p] = np.rint(acc * 1e15) / 1e15
        r1 = (big - cov[p]) / (aa - corr[p] + tiny)
        r2 = (big + cov[p]) / (aa + corr[p] + tiny)
        if 0.0 < r1 < gamma:
            gamma = r1
        if 0.0 < r2 < gamma:
            gamma = r2
    return gamma


@njit(cache=True, fastmath=False)
def _lar_crossings(n, gamma, coef, ls, sign, ratio):
    """Whether a coefficient crosses zero before the step ends; the signs of those that
    do first are flipped (LAR keeps them: the next step adds no atom)."""
    tiny = np.float32(1.1754944e-38)
    for i in range(n):
        ratio[i] = -coef[i] / (ls[i] + tiny)
    z = _min_pos(ratio, n)
    if not z < gamma:
        return False
    for i in range(n):
        if ratio[i] == z:
            sign[i] = -sign[i]
    return True


@njit(cache=True, fastmath=False)
def _largest_inactive(cov, n):
    """The first position from ``n`` on of the largest ``|cov|``, and that value."""
    lam, big = -1, 0.0
    for p in range(n, cov.shape[0]):
        if lam < 0 or abs(cov[p]) > big:
            lam, big = p, abs(cov[p])
    return lam, big


@njit(cache=True, fastmath=False)
def _lar_one(c, G, max_steps, stop_corr, eps, h, perm, cov, corr, ratio, L, scratch, sign,
             ls, coef):
    """Least angle regression (LAR: no lasso drop) of one sample for ``max_steps`` steps,
    as scikit-learn's ``lars_path(method="lar")`` with a Gram matrix takes them: the
    active atoms move along their equiangular direction until an inactive atom's
    correlation ties theirs, which joins at the next step; a coefficient that would cross
    zero has its sign flipped and the next step adds no atom. Stops early when every
    correlation is below ``stop_corr``. Returns (atoms used, premature: a degenerate atom
    was met)."""
    k = c.shape[0]
    for p in range(k):
        perm[p] = p
        cov[p] = c[p]
        h[p] = 0.0
    n, steps, drop, premature = 0, 0, False, False
    while True:
        lam, big = _largest_inactive(cov, n)
        if big <= stop_corr or steps >= max_steps or n >= k:
            break
        if not drop:
            if not _lar_add(G, n, lam, perm, cov, sign, L, eps):
                premature = True
                continue
            n += 1
        aa = _equiangular(L, n, sign, ls, scratch, eps)
        gamma = _lar_step(G, n, big, aa, perm, cov, corr, ls)
        drop = _lar_crossings(n, gamma, coef, ls, sign, ratio)
        steps += 1
        for i in range(n):
            coef[i] += gamma * ls[i]
        for p in range(n, k):
            cov[p] -= gamma * corr[p]
    for i in range(n):
        h[perm[i]] = coef[i]
        coef[i] = 0.0
    return n, premature


@njit(cache=True, nogil=True)
def _greedy_rows(C, G, GT, x_sq, max_atoms, tol, use_tol, ols, eps, H, n_active, residual,
                 premature, lo, hi):
    """Rows ``lo:hi``, sequentially; releases the GIL so that threads can share a call."""
    k = C.shape[1]
    size = k if use_tol else max_atoms
    perm, pos = np.empty(k, dtype=np.int64), np.empty(k, dtype=np.int64)
    atoms = np.empty(size, dtype=np.int64)
    alpha, q, floor, score = np.empty(k), np.empty(k), np.empty(k), np.empty(k)
    g_diag = np.diag(G).copy()
    floor0 = np.maximum(_DEPENDENT * g_diag, eps)
    L, w, Z = np.empty((size, size)), np.empty(size), np.empty((size, k))
    for r in range(lo, hi):
        n_active[r], residual[r], premature[r] = _greedy_one(
            C[r], GT, g_diag, floor0, x_sq[r], max_atoms, tol, use_tol, ols, eps, H[r],
            alpha, q, floor, score, L, w, Z, atoms, perm, pos)


@njit(cache=True, nogil=True)
def _lar_rows(C, G, max_steps, stop_corr, eps, H, n_active, premature, lo, hi):
    """`_lar_one` for rows ``lo:hi``, sequentially, without the GIL."""
    k = C.shape[1]
    size = min(max_steps, k)
    perm = np.empty(k, dtype=np.int64)
    cov, corr = np.empty(k), np.empty(k)
    L, scratch = np.empty((size, size)), np.empty((size, size))
    sign, ls, ratio, coef = np.empty(size), np.empty(size), np.empty(size), np.zeros(size)
    for r in range(lo, hi):
        n_active[r], premature[r] = _lar_one(
            C[r], G, max_steps, stop_corr, eps, H[r], perm, cov, corr, ratio, L, scratch,
            sign, ls, coef)


def _share_rows(rows, n, align=1):
    """``rows(lo, hi)`` over ``0:n`` in a few tasks per thread of our pool, each starting
    at a multiple of ``align``."""
    workers = max(1, min(n_threads(), n // _MIN_ROWS_PER_TASK))
    n_tasks = workers * (4 if n >= 64 * _MIN_ROWS_PER_TASK else 1)
    bounds = np.linspace(0, n, n_tasks + 1) / align
    bounds = np.minimum(np.round(bounds).astype(np.int64) * align, n)
    bounds[-1] = n
    run_tasks(lambda t: rows(bounds[t], bounds[t + 1]), n_tasks, workers)


def _block_rows(k):
    """Rows of a block of `RowProducts` for ``k`` atoms: about `_BLOCK_BYTES`, a multiple
    of `ROW_ALIGN` (so that a row's bits do not depend on its block)."""
    return max(1, _BLOCK_BYTES // (8 * max(k, 1) * ROW_ALIGN)) * ROW_ALIGN


def _by_blocks(products, coder, lo, hi, block):
    """``coder(C_block, s, e)`` for the blocks ``s:e`` of ``block`` rows of rows ``lo:hi``
    (``lo``: a multiple of ``block``), each block's correlations computed just before,
    into one buffer of this task."""
    buffer = torch.empty((min(block, hi - lo), products.shape[1]), dtype=torch.float64)
    for s in range(lo, hi, block):
        e = min(s + block, hi)
        C = products.rows(s, e, out=buffer[:e - s])
        coder(C.numpy(), s, e)


def greedy_arrays(C, G, x_sq, *, n_nonzero_coefs, tol=None, method="omp", n_features=None,
                  out=None):
    """`greedy_cpu` on C-contiguous float64 numpy arrays: the fields of a `GreedyResult`
    as arrays. ``C``: the array ``X D^T``, or `RowProducts` (CPU tensors), whose blocks
    of rows each task computes before coding them. ``n_features`` (LAR only): the
    dictionary's, which scales its stopping correlation as in scikit-learn. ``out``: a
    C-contiguous float64 array for the codes (the caller's output: no copy, and its pages
    are touched once)."""
    n, k = C.shape
    H = np.empty((n, k)) if out is None else out  # the engines zero each row
    if not (n and k):
        H[...] = 0.0
    n_active = np.zeros(n, dtype=np.int64)
    residual = np.array(x_sq, dtype=np.float64)
    premature = np.zeros(n, dtype=np.bool_)
    eps = float(np.finfo(np.float64).eps)
    if not (n and k):
        return H, n_active, residual, premature
    if method == "lar":
        if isinstance(C, RowProducts):  # its residuals below read all of C
            C = C.full().numpy()
        stop = float(n_features or 1) * float(np.finfo(np.float32).eps)
        _share_rows(lambda lo, hi: _lar_rows(C, G, int(n_nonzero_coefs), stop, eps, H,
                                             n_active, premature, lo, hi), n)
        # ||x - h D||^2 = ||x||^2 - 2 h.c + h G h, row by row
        residual = np.maximum(x_sq - 2 * (H * C).sum(1) + ((H @ G) * H).sum(1), 0.0)
        return H, n_active, residual, premature
    GT = np.ascontiguousarray(G.T)
    budget = k if tol is not None else int(min(n_nonzero_coefs, k))
    tol_value, ols = -1.0 if tol is None else float(tol), method == "ols"

    def code(C_rows, lo, hi):  # rows lo:hi, whose correlations are C_rows
        _greedy_rows(C_rows, G, GT, x_sq[lo:hi], budget, tol_value, tol is not None, ols,
                     eps, H[lo:hi], n_active[lo:hi], residual[lo:hi], premature[lo:hi], 0,
                     hi - lo)

    if isinstance(C, RowProducts):
        block = _block_rows(k)  # the tasks' alignment, so that theirs are aligned too
        _share_rows(lambda lo, hi: _by_blocks(C, code, lo, hi, block), n, block)
    else:
        _share_rows(lambda lo, hi: code(C[lo:hi], lo, hi), n)
    return H, n_active, residual, premature


def greedy_cpu(C, G, x_sq, *, n_nonzero_coefs, tol=None, method="omp", n_features=None,
               out=None):
    """OMP, OLS or LAR codes of every row of the CPU tensor ``C = X D^T`` (or of
    `RowProducts`, computed a block at a time): a `GreedyResult`
    (`skl_sparse._solvers._greedy`), computed by `greedy_arrays` (into the numpy array
    ``out`` if given)."""
    G, x_sq = (np.ascontiguousarray(t.numpy(), dtype=np.float64) for t in (G, x_sq))
    if isinstance(C, RowProducts):
        C = RowProducts(*(t.to(torch.float64).contiguous() for t in C))
    else:
        C = np.ascontiguousarray(C.numpy(), dtype=np.float64)
    out = greedy_arrays(C, G, x_sq, n_nonzero_coefs=n_nonzero_coefs, tol=tol, method=method,
                        n_features=n_features, out=out)
    return GreedyResult(*(torch.from_numpy(a) for a in out))
