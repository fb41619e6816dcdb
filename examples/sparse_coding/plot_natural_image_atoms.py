"""
=============================================
Dictionary atoms learned from natural images
=============================================

ZCA-whitened 12x12 patches of the photographs bundled with scikit-learn are coded
with an online-learned dictionary (Mairal et al. 2009). The atoms become localised,
oriented edge and grating detectors, like V1 simple cells (Olshausen & Field 1996).
"""

# %%
import os

import matplotlib.pyplot as plt

from skl_sparse import OnlineDictionaryLearner, ZCAWhitener
from skl_sparse.datasets import load_natural_patches
from skl_sparse.plotting import plot_atoms

n_patches = int(os.environ.get("SKL_SPARSE_EXAMPLE_PATCHES", 20000))
X = load_natural_patches(n_patches, patch_size=(12, 12), random_state=0)
X -= X.mean(axis=1, keepdims=True)
X_white = ZCAWhitener(eps=1.0).fit_transform(X)

# %%
odl = OnlineDictionaryLearner(100, alpha=0.3, max_iter=3, random_state=0).fit(X_white)
print(f"mean objective per epoch: {odl.objective_}")
plot_atoms(odl.components_, (12, 12), title="Learned atoms")
plt.show()
