"""
===========================================
PSD: predicted against optimal sparse codes
===========================================

:class:`skl_sparse.PSDEncoder` learns a dictionary together with a feed-forward
predictor of the sparse codes. On held-out whitened patches the predicted codes (one
matrix product and a soft threshold) are compared with the optimal lasso codes on the
same dictionary: their values and their encoding times.
"""

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from skl_sparse import PSDEncoder, ZCAWhitener
from skl_sparse.datasets import load_natural_patches

n = int(os.environ.get("SKL_SPARSE_EXAMPLE_PATCHES", 20000))
P = load_natural_patches(n + 10000, patch_size=(8, 8), random_state=0)
P -= P.mean(axis=1, keepdims=True)
X = ZCAWhitener(eps=0.1).fit(P[:n]).transform(P)
X /= X[:n].std()
psd = PSDEncoder(n_components=64, alpha=0.5, max_iter=5, learning_rate=3e-3,
                 random_state=0).fit(X[:n])
test = X[n:]
t = time.perf_counter()
Z_pred = psd.transform(test)
t_pred = time.perf_counter() - t
t = time.perf_counter()
Z_opt = psd.transform(test, method="optimize")
t_opt = time.perf_counter() - t
rel = np.linalg.norm(Z_pred - Z_opt) / np.linalg.norm(Z_opt)
print(f"relative distance {rel:.3f}; predict {t_pred * 1e3:.1f} ms, optimize {t_opt * 1e3:.0f} ms")

# %%
fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.plot(Z_opt.ravel()[:20000], Z_pred.ravel()[:20000], ".", ms=1, alpha=0.3)
lim = np.abs(Z_opt).max()
ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
ax.set(xlabel="optimal code", ylabel="predicted code", title=f"relative distance {rel:.2f}")
plt.show()
