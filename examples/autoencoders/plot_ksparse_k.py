"""
======================================
k-sparse autoencoder: the effect of k
======================================

Makhzani & Frey (2013): with many active units (large k) each unit only needs to
explain a small part of a digit, and the decoder atoms are local strokes and blobs;
with few (small k) each unit must nearly reconstruct a whole digit on its own, and the
atoms look like digit templates.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skl_sparse import KSparseAutoencoder
from skl_sparse.plotting import plot_atoms

X = load_digits().data / 16.0
fig, axes = plt.subplots(1, 3, figsize=(12, 4.2))
for ax, k in zip(axes, [30, 10, 2], strict=True):
    model = KSparseAutoencoder(n_components=100, k=k, alpha_k=1.0, learning_rate=1e-2,
                               max_iter=30, random_state=0).fit(X)
    plot_atoms(model.decoder_coefs_[0].T, (8, 8), ax=ax,
               title=f"k={k}: error {-model.score(X):.2f}")
fig.tight_layout()
plt.show()
