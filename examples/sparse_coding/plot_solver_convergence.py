"""
=====================================
Lasso solvers: objective against time
=====================================

The same 2,000 whitened patches coded on a 256-atom dictionary with each solver of
:func:`skl_sparse.sparse_encode` and with scikit-learn's ``lasso_cd``, for an increasing
iteration budget: the suboptimality of the mean objective against the seconds spent.
The LARS homotopy is exact in a number of steps close to the support size; the
iterative solvers approach the optimum geometrically and finish with an exact solve
on the support they found.
"""

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import OnlineDictionaryLearner, ZCAWhitener, sparse_encode
from skl_sparse.datasets import load_natural_patches

warnings.simplefilter("ignore", ConvergenceWarning)
P = load_natural_patches(12000, patch_size=(12, 12), random_state=0)
P -= P.mean(axis=1, keepdims=True)
X = ZCAWhitener(eps=1.0).fit_transform(P)
D = OnlineDictionaryLearner(256, alpha=0.1, max_iter=1, random_state=0).fit(X[2000:]).components_
X, alpha = X[:2000], 0.1


def objective(H):
    return np.mean(0.5 * ((X - H @ D) ** 2).sum(1) + alpha * np.abs(H).sum(1))


runs = {}
for solver in ["ista", "fista"]:
    runs[solver] = []
    for it in [1, 3, 10, 30, 100]:
        t = time.perf_counter()
        H = sparse_encode(X, D, alpha=alpha, solver=solver, max_iter=it, tol=1e-10)
        runs[solver].append((time.perf_counter() - t, objective(H)))
t = time.perf_counter()
H = sparse_encode(X, D, alpha=alpha, solver="lars")
runs["lars (exact)"] = [(time.perf_counter() - t, objective(H))]
best = min(o for r in runs.values() for _, o in r)
runs["sklearn lasso_cd"] = []
for it in [3, 10, 30, 100]:
    t = time.perf_counter()
    H = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha, max_iter=it)
    runs["sklearn lasso_cd"].append((time.perf_counter() - t, objective(H)))

# %%
fig, ax = plt.subplots(figsize=(6, 4))
for name, r in runs.items():
    t, o = np.array(r).T
    ax.loglog(t, np.maximum(o - best, 1e-12) / best, "o-", label=name)
ax.set(xlabel="seconds", ylabel="relative suboptimality", title=f"alpha={alpha}")
ax.legend()
plt.show()
