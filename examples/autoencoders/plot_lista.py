"""
======================================================
LISTA: a few trained layers instead of many ISTA steps
======================================================

:class:`skl_sparse.LISTAEncoder` unrolls ISTA into ``n_layers`` steps whose matrices and
thresholds are trained to reproduce the exact lasso codes of a fixed dictionary (Gregor
& LeCun, 2010). Here, on whitened 8x8 natural-image patches and a 64-atom dictionary:
the distance of the codes to the exact ones, for ISTA and FISTA against the number of
iterations, and for LISTA with 1, 2 and 4 layers (each layer costs about one iteration).
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import LISTAEncoder, OnlineDictionaryLearner, ZCAWhitener, sparse_encode
from skl_sparse.datasets import load_natural_patches

warnings.simplefilter("ignore", ConvergenceWarning)
P = load_natural_patches(9000, patch_size=(8, 8), random_state=0)
P -= P.mean(axis=1, keepdims=True)
X = ZCAWhitener(eps=1.0).fit_transform(P)
X /= np.sqrt((X**2).sum(axis=1).mean())
train, test, alpha = X[:6000], X[6000:], 0.1
D = OnlineDictionaryLearner(64, alpha=alpha, max_iter=2, random_state=0,
                            device="cpu").fit(train).components_
H = sparse_encode(test, D, alpha=alpha, device="cpu")


def distance(Z):
    return np.linalg.norm(Z - H) / np.linalg.norm(H)


def iterate(n_iter, momentum):
    """ISTA or FISTA from zero, recording the distance after each iteration."""
    L = np.linalg.eigvalsh(D @ D.T).max()
    Z = Y = np.zeros_like(H)
    t, out = 1.0, []
    for _ in range(n_iter):
        V = Y + (test @ D.T - Y @ D @ D.T) / L
        Z_new = np.sign(V) * np.maximum(np.abs(V) - alpha / L, 0)
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2 if momentum else 1.0
        Y = Z_new + ((t - 1) / t_new) * (Z_new - Z) if momentum else Z_new
        Z, t = Z_new, t_new
        out.append(distance(Z))
    return out


lista = {n: distance(LISTAEncoder(n, alpha=alpha, dictionary=D, max_iter=30,
                                  learning_rate=3e-3, device="cpu", random_state=0)
                     .fit(train).transform(test))
         for n in (1, 2, 4)}

# %%
fig, ax = plt.subplots(figsize=(6, 4))
steps = np.arange(1, 101)
ax.semilogx(steps, iterate(100, False), label="ISTA")
ax.semilogx(steps, iterate(100, True), label="FISTA")
ax.plot(list(lista), list(lista.values()), "o", ms=8, label="LISTA (layers)")
ax.set(xlabel="iterations / layers", ylabel="relative distance to the exact codes",
       ylim=(0, 1.05))
ax.legend()
plt.show()
