"""
=====================================
Denoising and inpainting digits
=====================================

A denoising autoencoder trained to reconstruct digits from copies with 30% of the
pixels erased fills in the missing strokes of test digits it has never seen; a plain
autoencoder of the same size, trained on clean digits, mostly copies the holes.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skl_sparse import Autoencoder, DenoisingAutoencoder

X = load_digits().data / 16.0
train, test = X[:1400], X[1400:]
masked = test * (np.random.RandomState(1).rand(*test.shape) >= 0.3)
common = {"n_components": 64, "learning_rate": 1e-2, "max_iter": 100, "random_state": 0}
plain = Autoencoder(**common).fit(train)
dae = DenoisingAutoencoder(noise="mask", noise_level=0.3, **common).fit(train)
rows = {"clean": test, "30% erased": masked,
        "plain AE": plain.inverse_transform(plain.transform(masked)),
        "denoising AE": dae.denoise(masked)}
for name in ("plain AE", "denoising AE"):
    print(f"{name}: squared error {((rows[name] - test) ** 2).sum(1).mean():.2f}")

# %%
fig, axes = plt.subplots(4, 10, figsize=(10, 4.4))
for r, (name, images) in enumerate(rows.items()):
    for c in range(10):
        axes[r, c].imshow(images[c].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(name, loc="left", fontsize=9)
fig.tight_layout()
plt.show()
