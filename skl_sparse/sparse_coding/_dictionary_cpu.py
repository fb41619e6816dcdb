"""Dictionary-learning kernels compiled for the CPU (numba).

The block-coordinate sweep is sequential over atoms (each update sees the previous
ones), so in torch it costs a handful of small kernel launches per atom; compiled, one
atom is one pass over ``A_j`` and ``D`` with no Python in between. Same arithmetic as
the torch loop of `skl_sparse._dictionary.update_dict_bcd_`.

The running averages of sparse codes cost their non-zero entries only
(`accumulate_sparse_`), where the products ``H^T H`` and ``H^T X`` cost every entry; so
does a K-SVD sweep (`ksvd_sweep_`), through each atom's samples.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _bcd_atom(D, A, B, j, u, positive):
    """``d_j <- normalise(d_j + (b_j - A_j D) / A_jj)``, in place (``u``: scratch)."""
    k, p = D.shape
    for t in range(p):
        u[t] = B[j, t]
    for i in range(k):
        a = A[j, i]
        if a != 0.0:
            for t in range(p):
                u[t] -= a * D[i, t]
    inv = 1.0 / A[j, j]
    norm = 0.0
    for t in range(p):
        u[t] = D[j, t] + u[t] * inv
        if positive and u[t] < 0.0:
            u[t] = 0.0
        norm += u[t] * u[t]
    norm = np.sqrt(norm)
    if norm > 1e-12:
        D[j] = u / norm
    elif positive:  # nothing left in the orthant: the atom's own magnitudes
        D[j] = np.abs(D[j]) / max(np.sqrt((D[j] * D[j]).sum()), 1e-300)


@njit(cache=True)
def bcd_sweeps_(D, A, B, atoms, n_sweeps, positive=False):
    """In place: for j in ``atoms``, ``d_j <- normalise(d_j + (b_j - A_j D) / A_jj)``
    (``max(., 0)`` before normalising with ``positive``)."""
    u = np.empty(D.shape[1], dtype=D.dtype)
    for _ in range(n_sweeps):
        for j in atoms:
            _bcd_atom(D, A, B, j, u, positive)


@njit(cache=True)
def accumulate_sparse_(A, B, H, X, beta, weight):
    """In place: ``A <- beta A + weight H^T H`` and ``B <- beta B + weight H^T X``, each
    row of ``H`` through its non-zero entries (O(s^2 + s p) for s of them, where the
    products cost O(k^2 + k p) a row)."""
    k, p = B.shape
    for i in range(k):
        for j in range(k):
            A[i, j] *= beta
        for t in range(p):
            B[i, t] *= beta
    support = np.empty(k, dtype=np.int64)
    for r in range(H.shape[0]):
        s = 0
        for j in range(k):
            if H[r, j] != 0.0:
                support[s] = j
                s += 1
        for a in range(s):
            i = support[a]
            h = weight * H[r, i]
            for b in range(s):
                A[i, support[b]] += h * H[r, support[b]]
            for t in range(p):
                B[i, t] += h * X[r, t]


@njit(cache=True)
def _samples_by_atom(H):
    """The samples whose codes use each atom: ``rows[start[j]:start[j + 1]]`` for atom
    ``j`` (the sparse codes by column)."""
    n, k = H.shape
    count = np.zeros(k + 1, dtype=np.int64)
    for r in range(n):
        for j in range(k):
            if H[r, j] != 0.0:
                count[j + 1] += 1
    start = np.cumsum(count)
    rows = np.empty(start[k], dtype=np.int64)
    fill = start[:k].copy()
    for r in range(n):
        for j in range(k):
            if H[r, j] != 0.0:
                rows[fill[j]] = r
                fill[j] += 1
    return rows, start


@njit(cache=True)
def _ksvd_direction(D, X, H, j, samples, d):
    """``d = E^T g = X_I^T g - D^T (H_I^T g)`` for atom ``j`` (set to zero by the caller),
    its samples ``I`` and codes ``g``; returns its norm."""
    k, p = D.shape
    d[:] = 0.0
    for r in samples:
        g = H[r, j]
        for t in range(p):
            d[t] += g * X[r, t]
        for i in range(k):
            c = H[r, i]
            if c != 0.0 and i != j:
                for t in range(p):
                    d[t] -= g * c * D[i, t]
    return np.sqrt((d * d).sum())


@njit(cache=True)
def _ksvd_codes(D, X, H, j, samples, d, proj, known):
    """``g = E d = X_I d - H_I (D d)``: the new codes of atom ``j`` (direction ``d``) in
    its samples; ``D d`` computed once per atom they use."""
    k, p = D.shape
    known[:] = False
    for r in samples:
        acc = 0.0
        for t in range(p):
            acc += X[r, t] * d[t]
        for i in range(k):
            c = H[r, i]
            if c != 0.0 and i != j:
                if not known[i]:
                    proj[i] = (D[i] * d).sum()
                    known[i] = True
                acc -= c * proj[i]
        H[r, j] = acc


@njit(cache=True)
def ksvd_sweep_(D, X, H):
    """In place: one approximate K-SVD sweep (`skl_sparse.sparse_coding._dictionary.
    update_dict_ksvd_`), each atom through the samples that use it and their supports:
    O(s p) a sample and atom for codes of s atoms."""
    k, p = D.shape
    rows, start = _samples_by_atom(H)
    d, old, proj = np.empty(p, dtype=D.dtype), np.empty(p, dtype=D.dtype), np.empty(k, D.dtype)
    known = np.zeros(k, dtype=np.bool_)
    for j in range(k):
        samples = rows[start[j]:start[j + 1]]
        if len(samples) == 0:
            continue
        old[:] = D[j]
        D[j] = 0.0
        norm = _ksvd_direction(D, X, H, j, samples, d)
        if norm <= 1e-12:
            D[j] = old
            continue
        d /= norm
        _ksvd_codes(D, X, H, j, samples, d, proj, known)
        D[j] = d
