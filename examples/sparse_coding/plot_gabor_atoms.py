"""
=============================================
V1-like atoms and their Gabor fits
=============================================

A dictionary learned on ZCA-whitened natural patches has localised, oriented,
band-pass atoms, like the receptive fields of V1 simple cells. Fitting a Gabor function
to each atom (:func:`skl_sparse.gabor.fit_gabor_dictionary`) measures how far the
analogy goes: the fraction of atoms a Gabor explains (R^2), and the spread of their
orientations, frequencies and positions. The fit sidesteps the periodic traps of
orientation and phase (see :mod:`skl_sparse.gabor`).
"""

# %%
import os

import matplotlib.pyplot as plt

from skl_sparse import OnlineDictionaryLearner, ZCAWhitener
from skl_sparse.datasets import load_natural_patches
from skl_sparse.gabor import fit_gabor_dictionary, gabor_kernel
from skl_sparse.plotting import plot_atoms, plot_gabor_statistics

n = int(os.environ.get("SKL_SPARSE_EXAMPLE_PATCHES", 20000))
X = load_natural_patches(n, patch_size=(12, 12), random_state=0)
X -= X.mean(axis=1, keepdims=True)
X = ZCAWhitener(eps=1.0).fit_transform(X)
D = OnlineDictionaryLearner(64, alpha=0.3, max_iter=3, random_state=0).fit(X).components_
params = fit_gabor_dictionary(D, (12, 12))

# %%
# Each atom next to its fitted Gabor.
fits = [gabor_kernel((12, 12), **{k: params[k][i] for k in
                                  ("x0", "y0", "theta", "frequency", "phase", "sigma_x",
                                   "sigma_y", "amplitude", "offset")}).ravel()
        for i in range(len(D))]
fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
plot_atoms(D, (12, 12), ax=axes[0], title="learned atoms")
plot_atoms(fits, (12, 12), ax=axes[1], title="Gabor fits")

# %%
fig = plot_gabor_statistics(params, (12, 12))
print(f"{(params['r2'] >= 0.8).mean():.0%} of the atoms have R^2 >= 0.8")
plt.show()
