"""Offline data sets: natural image patches from images that ship with scikit-learn."""

from numbers import Integral

import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params


@validate_params(
    {
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "patch_size": [tuple],
        "images": ["array-like", list, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_natural_patches(n_patches=10000, *, patch_size=(12, 12), images=None, random_state=None):
    """Random grey-level patches of natural photographs, as rows.

    By default the patches come from the two photographs bundled with
    scikit-learn (:func:`sklearn.datasets.load_sample_images`: a Chinese temple
    and a flower), converted to grey levels in [0, 1], in equal numbers from
    each image. No download is needed.

    Parameters
    ----------
    n_patches : int, default=10000
        Number of patches returned.
    patch_size : tuple of int (height, width), default=(12, 12)
        Patch shape.
    images : list of arrays of shape (h, w) or (h, w, c), default=None
        Images to cut patches from (colour images are averaged over channels);
        ``None`` uses scikit-learn's sample images.
    random_state : int, RandomState instance or None, default=None
        Patch positions.

    Returns
    -------
    patches : ndarray of shape (n_patches, height * width), float64

    Examples
    --------
    >>> from skl_sparse.datasets import load_natural_patches
    >>> load_natural_patches(100, patch_size=(8, 8), random_state=0).shape
    (100, 64)
    """
    if len(patch_size) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in patch_size):
        raise ValueError(f"patch_size must be two positive integers; got {patch_size!r}.")
    rng = check_random_state(random_state)
    if images is None:
        images = [im.astype(np.float64) / 255.0 for im in load_sample_images().images]
    grey = []
    for im in images:
        im = np.asarray(im, dtype=np.float64)
        if im.ndim == 3:
            im = im.mean(axis=2)
        if im.ndim != 2:
            raise ValueError(f"images must be 2-D or 3-D arrays; got shape {im.shape}.")
        if im.shape[0] < patch_size[0] or im.shape[1] < patch_size[1]:
            raise ValueError(f"An image of shape {im.shape} is smaller than patch_size.")
        grey.append(im)
    if not grey:
        raise ValueError("images is empty.")
    counts = np.full(len(grey), n_patches // len(grey))
    counts[: n_patches % len(grey)] += 1
    patches = [
        extract_patches_2d(im, patch_size, max_patches=int(c), random_state=rng).reshape(
            int(c), -1
        )
        for im, c in zip(grey, counts, strict=True)
        if c
    ]
    patches = np.concatenate(patches)
    return patches[rng.permutation(len(patches))]
