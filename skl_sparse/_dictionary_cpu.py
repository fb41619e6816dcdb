"""Block-coordinate dictionary sweep compiled for the CPU (numba).

The sweep is sequential over atoms (each update sees the previous ones), so in
torch it costs a handful of small kernel launches per atom; compiled, one atom
is one pass over ``A_j`` and ``D`` with no Python in between. Same arithmetic
as the torch loop of `skl_sparse._dictionary.update_dict_bcd_`.
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
