r"""Whole-image features from a patch encoder, pooled over a spatial grid (Coates & Ng).

An image is cut into dense ``patch_size`` patches (stride ``step``); each patch goes
through a fitted patch pipeline (for instance ``ZCAWhitener`` then ``SparseCoder``, or an
autoencoder); the codes are optionally split into their positive and negative parts and
pooled (summed or max-ed) over the cells of one or more square grids: ``grid=(1, 2)``
concatenates the whole-image pool and the four quadrant pools. The patch pipeline is
learned in ``fit`` from random patches of the training images.
"""

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

from .._base import _Transformer, restore_on_error
from .._validation import peak_magnitude
from ..preprocessing._whitening import ZCAWhitener
from ..sparse_coding._online_dictionary import OnlineDictionaryLearner

__all__ = ["ImagePatchEncoder"]


def _default_encoder():
    return make_pipeline(
        ZCAWhitener(eps=0.1), OnlineDictionaryLearner(64, alpha=0.3, max_iter=3)
    )


def _row_std(P):
    """Standard deviation of each row of ``P`` (last axis), also where the squares of
    its values would overflow P's dtype (then computed on rows scaled by their peak)."""
    big = np.sqrt(np.finfo(P.dtype).max / max(P.shape[-1], 1))
    if peak_magnitude(P) < big:
        return P.std(axis=-1, keepdims=True)
    peak = np.abs(P).max(axis=-1, keepdims=True)
    peak = np.where(peak > 0, peak, 1)
    return (P / peak).std(axis=-1, keepdims=True) * peak


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
    def _images(self, X, reset):
        """(n, h, w, c) float images from 2-D, 3-D or 4-D input."""
        X = validate_data(self, X, dtype=[np.float64, np.float32], allow_nd=True,
                          reset=reset, ensure_min_features=1)
        if X.ndim == 2:
            shape = self._flat_shape(X.shape[1])
            if int(np.prod(shape)) != X.shape[1]:
                raise ValueError(
                    f"image_shape={self.image_shape} has {int(np.prod(shape))} pixels but X "
                    f"has {X.shape[1]} features."
                )
            X = X.reshape((X.shape[0], *shape))
        if X.ndim == 3:
            X = X[..., None]
        if X.ndim != 4:
            raise ValueError(f"X must be 2-D, 3-D or 4-D images; got {X.ndim} dimensions.")
        if not reset and X.shape[1:] != self.image_shape_:
            raise ValueError(
                f"images of shape {X.shape[1:]} do not match the fitted {self.image_shape_}."
            )
        ph, pw = self._patch_size()
        if ph > X.shape[1] or pw > X.shape[2]:
            raise ValueError(
                f"patch_size={self.patch_size} is larger than the images {X.shape[1:3]}."
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

    def _dense_patches(self, images):
        """(n, ny, nx, ph * pw * c) patches at stride ``step``."""
        ph, pw = self._patch_size()
        win = np.lib.stride_tricks.sliding_window_view(images, (ph, pw), axis=(1, 2))
        win = win[:, :: self.step, :: self.step]  # (n, ny, nx, c, ph, pw)
        win = np.moveaxis(win, 3, -1)  # (n, ny, nx, ph, pw, c)
        return win.reshape(*win.shape[:3], -1)

    def _normalize(self, P):
        if not self.normalize_patches:
            return P
        P = P - P.mean(axis=-1, keepdims=True)
        return P / (_row_std(P) + self.contrast_floor_)

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
        images = self._images(X, reset=True)
        self._grid()
        rng = check_random_state(self.random_state)
        n, h, w, c = images.shape
        ph, pw = self._patch_size()
        rows = rng.randint(n, size=self.n_fit_patches)
        ys = rng.randint(h - ph + 1, size=self.n_fit_patches)
        xs = rng.randint(w - pw + 1, size=self.n_fit_patches)
        dy, dx = np.mgrid[:ph, :pw]
        P = images[rows[:, None, None], ys[:, None, None] + dy, xs[:, None, None] + dx]
        P = P.reshape(self.n_fit_patches, -1)
        if self.normalize_patches:
            centred = P - P.mean(axis=1, keepdims=True)
            self.contrast_floor_ = 0.1 * float(_row_std(centred).mean()) + 1e-8
        else:
            self.contrast_floor_ = 0.0
        encoder = _default_encoder() if self.patch_encoder is None else self.patch_encoder
        self.patch_encoder_ = clone(encoder).fit(self._normalize(P))
        self.image_shape_ = images.shape[1:]
        probe = self.patch_encoder_.transform(self._normalize(P[:1]))
        self.n_features_out_ = self._pool(probe.reshape(1, 1, 1, -1)).shape[1]
        return self

    def _pool(self, Z):
        """Pool codes ``Z`` of shape (n, ny, nx, k) over the grids."""
        if self.split_sign:
            Z = np.concatenate([np.maximum(Z, 0), np.maximum(-Z, 0)], axis=-1)
        n, ny, nx, k = Z.shape
        out = []
        for g in self._grid():
            ey, ex = np.linspace(0, ny, g + 1).astype(int), np.linspace(0, nx, g + 1).astype(int)
            for i in range(g):
                for j in range(g):
                    # a cell is never empty, even when the map is smaller than the grid
                    rows = slice(ey[i], max(ey[i + 1], ey[i] + 1))
                    cols = slice(ex[j], max(ex[j + 1], ex[j] + 1))
                    cell = Z[:, rows, cols]
                    out.append(cell.max(axis=(1, 2)) if self.pooling == "max"
                               else cell.sum(axis=(1, 2)))
        return np.concatenate(out, axis=1)

    def transform(self, X):
        """Pooled codes of every image.

        Parameters
        ----------
        X : array-like of shape (n_images, n_pixels), (n, h, w) or (n, h, w, c)

        Returns
        -------
        features : ndarray of shape (n_images, n_features_out)
        """
        check_is_fitted(self)
        images = self._images(X, reset=False)
        out = np.empty((len(images), self.n_features_out_), dtype=images.dtype)
        for start in range(0, len(images), self.transform_batch_size):
            P = self._dense_patches(images[start : start + self.transform_batch_size])
            shape = P.shape[:3]
            codes = self.patch_encoder_.transform(self._normalize(P.reshape(-1, P.shape[-1])))
            out[start : start + len(P)] = self._pool(codes.reshape(*shape, -1))
        return out

    @property
    def _n_features_out(self):
        return self.n_features_out_
