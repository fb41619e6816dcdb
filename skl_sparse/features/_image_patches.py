r"""Whole-image features from a patch encoder, pooled over a spatial grid (Coates & Ng).

An image is cut into dense ``patch_size`` patches (stride ``step``); each patch goes
through a fitted patch pipeline (for instance ``ZCAWhitener`` then ``SparseCoder``, or an
autoencoder); the codes are optionally split into their positive and negative parts and
pooled (summed or max-ed) over the cells of one or more square grids: ``grid=(1, 2)``
concatenates the whole-image pool and the four quadrant pools. The patch pipeline is
learned in ``fit`` from random patches of the training images.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    _fit_context,
    clone,
)
from sklearn.pipeline import make_pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import check_real, dispatched_namespace, numpy_namespace
from .._base import _Transformer, restore_on_error
from ..preprocessing._whitening import ZCAWhitener
from ..sparse_coding._online_dictionary import OnlineDictionaryLearner

__all__ = ["ImagePatchEncoder"]


def _default_encoder():
    return make_pipeline(
        ZCAWhitener(eps=0.1), OnlineDictionaryLearner(64, alpha=0.3, max_iter=3)
    )


def _row_std(P, xp):
    """Standard deviation of each row of ``P`` (last axis), also where the squares of
    its values would overflow P's dtype (then computed on rows scaled by their peak)."""
    big = math.sqrt(float(xp.finfo(P.dtype).max) / max(P.shape[-1], 1))
    peak = max(float(xp.max(P)), -float(xp.min(P))) if P.shape[0] else 0.0
    if peak < big:
        return xp.std(P, axis=-1, keepdims=True)
    peak = xp.max(xp.abs(P), axis=-1, keepdims=True)
    peak = xp.where(peak > 0, peak, xp.ones_like(peak))
    return xp.std(P / peak, axis=-1, keepdims=True) * peak


def _or_numpy(xp, device):
    """``(xp, device)`` of Array API dispatch, or numpy's when there is none (through
    scikit-learn's wrapper, so that one array-API code path serves both)."""
    return (numpy_namespace, None) if xp is None else (xp, device)


class ImagePatchEncoder(_Transformer, BaseEstimator):
    r"""Encode images by coding their patches and pooling the codes over a grid.

    Read more in the :ref:`User Guide <image_features>`.

    Parameters
    ----------
    patch_encoder : estimator, default=None
        A transformer fitted on flattened patches (rows of ``patch_height * patch_width
        * channels`` values); cloned in ``fit``. None: ``ZCAWhitener(eps=0.1)`` then
        ``OnlineDictionaryLearner(64, alpha=0.3)``.
    image_shape : tuple of int, default=None
        ``(height, width)`` or ``(height, width, channels)`` of the images when ``X`` is
        2-D (one flattened image per row). None: square grayscale images when
        ``n_features`` is a square, else images of one row. Ignored when ``X`` is 3-D
        ``(n, h, w)`` or 4-D ``(n, h, w, c)``.
    patch_size : tuple of int, default=(6, 6)
    step : int, default=1
        Stride between dense patches in ``transform``.
    n_fit_patches : int, default=20000
        Random patches drawn from the training images to fit ``patch_encoder``.
    normalize_patches : bool, default=True
        Remove each patch's mean and divide by its standard deviation (plus 10% of the
        average one) before encoding: brightness and contrast normalisation.
    pooling : {"sum", "max"}, default="sum"
    grid : tuple of int, default=(1, 2)
        Pooling grids: ``g`` splits the code map into ``g x g`` cells.
    split_sign : bool, default=False
        Pool ``max(z, 0)`` and ``max(-z, 0)`` separately (doubles the features).
    transform_batch_size : int, default=256
        Images encoded at once by ``transform``: memory
        O(transform_batch_size x patches per image x codes).
    random_state : int, RandomState instance or None, default=None
        Draw of the training patches.

    Attributes
    ----------
    patch_encoder_ : estimator
        The fitted patch pipeline.
    image_shape_ : tuple of int
        ``(height, width, channels)`` of the training images.
    n_features_in_ : int
        Pixels per image (when ``X`` was 2-D).
    n_features_out_ : int
        Features per image.
    contrast_floor_ : 0-d ndarray
        What ``normalize_patches`` adds to each patch's standard deviation (0 without
        it), in the dtype of the training images.

    See Also
    --------
    OnlineDictionaryLearner : the default patch dictionary.
    ZCAWhitener : the default patch whitening.

    References
    ----------
    Coates, Lee and Ng, "An analysis of single-layer networks in unsupervised feature
    learning", AISTATS 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import ZCAWhitener, SparseCoder
    >>> from skl_sparse.features import ImagePatchEncoder
    >>> from sklearn.pipeline import make_pipeline
    >>> images = np.random.RandomState(0).rand(20, 10, 10)
    >>> enc = ImagePatchEncoder(make_pipeline(ZCAWhitener(), SparseCoder(8, alpha=0.2,
    ...                         max_iter=3, device="cpu")), patch_size=(4, 4), step=2,
    ...                         n_fit_patches=500, random_state=0)
    >>> enc.fit_transform(images).shape  # 8 codes x (1 + 4) grid cells
    (20, 40)
    """

    _parameter_constraints: dict = {
        "patch_encoder": [HasMethods(["fit", "transform"]), None],
        "image_shape": [tuple, None],
        "patch_size": [tuple],
        "step": [Interval(Integral, 1, None, closed="left")],
        "n_fit_patches": [Interval(Integral, 1, None, closed="left")],
        "normalize_patches": ["boolean"],
        "pooling": [StrOptions({"sum", "max"})],
        "grid": [tuple],
        "split_sign": ["boolean"],
        "transform_batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        patch_encoder=None,
        *,
        image_shape=None,
        patch_size=(6, 6),
        step=1,
        n_fit_patches=20000,
        normalize_patches=True,
        pooling="sum",
        grid=(1, 2),
        split_sign=False,
        transform_batch_size=256,
        random_state=None,
    ):
        self.patch_encoder = patch_encoder
        self.image_shape = image_shape
        self.patch_size = patch_size
        self.step = step
        self.n_fit_patches = n_fit_patches
        self.normalize_patches = normalize_patches
        self.pooling = pooling
        self.grid = grid
        self.split_sign = split_sign
        self.transform_batch_size = transform_batch_size
        self.random_state = random_state

    # --- images ------------------------------------------------------------
    def _images(self, X, reset, xp):
        """(n, h, w, c) float images from 2-D, 3-D or 4-D input (in ``xp``)."""
        if xp is not numpy_namespace:  # numpy's validation rejects complex X itself
            X = check_real(X, xp)
        X = validate_data(self, X, dtype=[xp.float64, xp.float32], allow_nd=True,
                          reset=reset, ensure_min_features=1)
        if X.ndim == 2:
            shape = self._flat_shape(X.shape[1])
            if math.prod(shape) != X.shape[1]:
                raise ValueError(
                    f"image_shape={self.image_shape} has {math.prod(shape)} pixels but X "
                    f"has {X.shape[1]} features."
                )
            X = xp.reshape(X, (X.shape[0], *shape))
        if X.ndim == 3:
            X = xp.expand_dims(X, axis=-1)
        if X.ndim != 4:
            raise ValueError(f"X must be 2-D, 3-D or 4-D images; got {X.ndim} dimensions.")
        if not reset and tuple(X.shape[1:]) != self.image_shape_:
            raise ValueError(
                f"images of shape {tuple(X.shape[1:])} do not match the fitted "
                f"{self.image_shape_}."
            )
        ph, pw = self._patch_size()
        if ph > X.shape[1] or pw > X.shape[2]:
            raise ValueError(
                f"patch_size={self.patch_size} is larger than the images {tuple(X.shape[1:3])}."
            )
        return X

    def _flat_shape(self, n_features):
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            if len(shape) not in (2, 3) or min(shape) < 1:
                raise ValueError(
                    f"image_shape must be (height, width) or (height, width, channels); "
                    f"got {self.image_shape}."
                )
            return shape if len(shape) == 3 else (*shape, 1)
        side = int(round(np.sqrt(n_features)))
        return (side, side, 1) if side * side == n_features else (1, n_features, 1)

    def _patch_size(self):
        ps = tuple(self.patch_size)
        if len(ps) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in ps):
            raise ValueError(f"patch_size must be two positive integers; got {self.patch_size}.")
        return ps

    def _grid(self):
        grid = tuple(self.grid)
        if not grid or not all(isinstance(g, Integral) and g >= 1 for g in grid):
            raise ValueError(f"grid must be positive integers, e.g. (1, 2); got {self.grid}.")
        return grid

    def _dense_patches(self, images, xp):
        """(n, ny, nx, ph * pw * c) patches at stride ``step``, each flattened in
        (row, column, channel) order: one strided slice of the images per patch pixel."""
        ph, pw = self._patch_size()
        n, h, w, c = images.shape
        ny, nx = (h - ph) // self.step + 1, (w - pw) // self.step + 1
        pixels = [images[:, a : a + (ny - 1) * self.step + 1 : self.step,
                         b : b + (nx - 1) * self.step + 1 : self.step, :]
                  for a in range(ph) for b in range(pw)]
        return xp.reshape(xp.stack(pixels, axis=3), (n, ny, nx, ph * pw * c))

    def _normalize(self, P, xp):
        if not self.normalize_patches:
            return P
        P = P - xp.mean(P, axis=-1, keepdims=True)
        return P / (_row_std(P, xp) + self.contrast_floor_)

    # --- estimator ---------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=False)
    @restore_on_error
    def fit(self, X, y=None):
        """Learn the patch pipeline from random patches of the images ``X``.

        Parameters
        ----------
        X : array-like of shape (n_images, n_pixels), (n, h, w) or (n, h, w, c)
        y : Ignored

        Returns
        -------
        self
        """
        xp, device = _or_numpy(*dispatched_namespace(X))
        images = self._images(X, reset=True, xp=xp)
        self._grid()
        rng = check_random_state(self.random_state)
        n, h, w, c = images.shape
        ph, pw = self._patch_size()
        rows = rng.randint(n, size=self.n_fit_patches)
        ys = rng.randint(h - ph + 1, size=self.n_fit_patches)
        xs = rng.randint(w - pw + 1, size=self.n_fit_patches)
        dy, dx = np.mgrid[:ph, :pw]
        # the patches' pixels, as rows of the (n * h * w, c) pixel table
        pixel = ((rows[:, None, None] * h + ys[:, None, None] + dy) * w
                 + xs[:, None, None] + dx)
        P = xp.take(xp.reshape(images, (n * h * w, c)),
                    xp.asarray(pixel.reshape(-1), device=device), axis=0)
        P = xp.reshape(P, (self.n_fit_patches, ph * pw * c))
        floor = 0.0
        if self.normalize_patches:
            centred = P - xp.mean(P, axis=1, keepdims=True)
            floor = 0.1 * float(xp.mean(_row_std(centred, xp))) + 1e-8
        # a 0-d array of X's namespace, device and dtype: it says where the model lives
        self.contrast_floor_ = xp.asarray(floor, dtype=images.dtype, device=device)
        encoder = _default_encoder() if self.patch_encoder is None else self.patch_encoder
        self.patch_encoder_ = clone(encoder).fit(self._normalize(P, xp))
        self.image_shape_ = tuple(images.shape[1:])
        probe = self._codes(self._normalize(P[:1, :], xp), xp, device)
        self.n_features_out_ = self._pool(xp.reshape(probe, (1, 1, 1, -1)), xp).shape[1]
        return self

    def _codes(self, P, xp, device):
        """Codes of the patches ``P`` in ``xp`` on ``device``: an encoder that does not
        support Array API dispatch returns numpy."""
        codes = self.patch_encoder_.transform(P)
        return codes if xp is numpy_namespace else xp.asarray(codes, device=device)

    def _pool(self, Z, xp):
        """Pool codes ``Z`` of shape (n, ny, nx, k) over the grids."""
        if self.split_sign:
            Z = xp.concat([xp.clip(Z, min=0), xp.clip(-Z, min=0)], axis=-1)
        n, ny, nx, k = Z.shape
        out = []
        for g in self._grid():
            ey, ex = np.linspace(0, ny, g + 1).astype(int), np.linspace(0, nx, g + 1).astype(int)
            for i in range(g):
                for j in range(g):
                    # a cell is never empty, even when the map is smaller than the grid
                    cell = Z[:, int(ey[i]) : int(max(ey[i + 1], ey[i] + 1)),
                             int(ex[j]) : int(max(ex[j + 1], ex[j] + 1)), :]
                    out.append(xp.max(cell, axis=(1, 2)) if self.pooling == "max"
                               else xp.sum(cell, axis=(1, 2)))
        return xp.concat(out, axis=1)

    def transform(self, X):
        """Pooled codes of every image.

        Under scikit-learn's Array API dispatch the images, their patches and codes stay
        in X's namespace and on its device (``patch_encoder`` must support dispatch too;
        the default pipeline does, and says when a model fitted on numpy is given
        tensors), and the features come back there.

        Parameters
        ----------
        X : array-like of shape (n_images, n_pixels), (n, h, w) or (n, h, w, c)

        Returns
        -------
        features : ndarray of shape (n_images, n_features_out)
        """
        check_is_fitted(self)
        xp, device = _or_numpy(*self._fitted_namespace(X, "transform", "contrast_floor_"))
        images = self._images(X, reset=False, xp=xp)
        out, n = [], images.shape[0]
        for start in range(0, n, self.transform_batch_size):
            stop = min(start + self.transform_batch_size, n)
            P = self._dense_patches(images[start:stop, ...], xp)
            shape = P.shape[:3]
            codes = self._codes(self._normalize(xp.reshape(P, (-1, P.shape[-1])), xp), xp,
                                device)
            out.append(self._pool(xp.reshape(codes, (*shape, -1)), xp))
        return xp.astype(xp.concat(out, axis=0), images.dtype)

    @property
    def _n_features_out(self):
        return self.n_features_out_

