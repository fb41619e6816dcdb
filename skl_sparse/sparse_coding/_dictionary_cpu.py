"""Dictionary-learning kernels compiled for the CPU (numba).

The block-coordinate sweep is sequential over atoms (each update sees the previous
ones), so in torch it costs a handful of small kernel launches per atom; compiled, one
atom is one pass over ``A_j`` and ``D`` with no Python in between. Same arithmetic as
the torch loop of `skl_sparse._dictionary.update_dict_bcd_`.

The running averages of sparse codes cost their non-zero entries only
(`accumulate_sparse_`), where the products ``H^T H`` and ``H^T X`` cost every entry.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def bcd_sweeps_(D, A, B, atoms, n_sweeps):
    """In place: for j in ``atoms``, ``d_j <- normalise(d_j + (b_j - A_j D) / A_jj)``."""
    k, p = D.shape
    u = np.empty(p, dtype=D.dtype)
    for _ in range(n_sweeps):
        for j in atoms:
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
                norm += u[t] * u[t]
            norm = np.sqrt(norm)
            if norm > 1e-12:
                for t in range(p):
                    D[j, t] = u[t] / norm


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
