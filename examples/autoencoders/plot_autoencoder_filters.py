"""
=====================================
Five autoencoders, their filters
=====================================

The same 64-unit, one-layer autoencoder trained on handwritten digits with each
regulariser. The rows of the encoder matrix (``coefs_[0]``) are the filters: the plain
autoencoder spreads information over blurry, global filters; the sparsity, denoising
and contraction penalties push towards localised stroke detectors.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    SparseAutoencoder,
)
from skl_sparse.plotting import plot_atoms

X = load_digits().data / 16.0
common = {"n_components": 64, "learning_rate": 1e-2, "max_iter": 30, "random_state": 0}
models = {
    "plain": Autoencoder(**common),
    "sparse (KL)": SparseAutoencoder(**common),
    "k-sparse (k=10)": KSparseAutoencoder(k=10, alpha_k=1.0, **common),
    "denoising (30% mask)": DenoisingAutoencoder(**common),
    "contractive": ContractiveAutoencoder(contraction=0.3, **common),
}
fig, axes = plt.subplots(1, 5, figsize=(15, 3.4))
for ax, (name, model) in zip(axes, models.items(), strict=True):
    model.fit(X)
    plot_atoms(model.coefs_[0], (8, 8), ax=ax, title=f"{name}\nerror {-model.score(X):.2f}")
fig.tight_layout()
plt.show()
