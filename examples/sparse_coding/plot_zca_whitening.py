"""
=================================
ZCA whitening of natural images
=================================

Natural images have a steep power spectrum: neighbouring pixels are strongly correlated
and most of the variance sits in low spatial frequencies. ZCA whitening,
:math:`x \\leftarrow U(\\Lambda + \\epsilon I)^{-1/2}U^\\top(x - \\mu)`, equalises the
spectrum while staying as close as possible to the identity, so whitened patches still
look like patches: flat regions fade, edges stand out. ``eps`` limits the gain on
the low-variance (noisy) directions.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skl_sparse import ZCAWhitener
from skl_sparse.datasets import load_natural_patches
from skl_sparse.plotting import plot_atoms

X = load_natural_patches(10000, patch_size=(12, 12), random_state=0)
X -= X.mean(axis=1, keepdims=True)
fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
plot_atoms(X[:36], (12, 12), ax=axes[0], title="raw patches")
for ax, eps in zip(axes[1:], [1e-3, 1e-1, 1.0], strict=True):
    zca = ZCAWhitener(eps=eps).fit(X)
    plot_atoms(zca.transform(X[:36]), (12, 12), ax=ax, title=f"ZCA, eps={eps}")
fig.tight_layout()

# %%
# The covariance of the whitened data is close to the identity when eps is small
# compared with the eigenvalues; the whitening matrix is symmetric.
zca = ZCAWhitener(eps=1e-3).fit(X)
C = np.cov(zca.transform(X), rowvar=False)
print(f"largest |cov - I| on the kept directions: {np.abs(C - np.eye(144))[:140, :140].max():.3f}")
print(f"whitening matrix symmetric: {np.allclose(zca.whitening_, zca.whitening_.T)}")
plt.show()
