"""
================================================
Object recognition: the offline Caltech stand-in
================================================

Dense 5x5 patches of each image are coded on a dictionary learned from the images
themselves (without labels), split by sign and summed over a 1x1 + 2x2 grid
(:class:`skl_sparse.ImagePatchEncoder`, Coates & Ng 2011), then classified by a
logistic regression. The stand-in data are real photographs that ship with
scikit-image (``lfw_subset``: 100 faces and 100 non-face crops, 25x25 pixels), like
Caltech-101's faces against background clutter; with the real data,
``python -m skl_sparse.experiments caltech101 --data-home DIR`` runs all 101 classes.
"""

# %%
import matplotlib.pyplot as plt

from skl_sparse.datasets import load_faces_standin
from skl_sparse.experiments import caltech101

table, rows = caltech101(sizes=(5, 30), repeats=1, verbose=0)
print(table)

# %%
data = load_faces_standin()
images, y, names = data.images, data.target, data.target_names
fig, axes = plt.subplots(2, 8, figsize=(10, 2.8))
for r, label in enumerate([1, 0]):
    for c, i in enumerate((y == label).nonzero()[0][:8]):
        axes[r, c].imshow(images[i], cmap="gray")
        axes[r, c].set_axis_off()
    axes[r, 0].set_title(names[label], loc="left", fontsize=9)
plt.show()
