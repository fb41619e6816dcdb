"""ZCA whitening."""

from numbers import Real

import numpy as np
from scipy import linalg
from sklearn.base import (
    BaseEstimator,
    _fit_context,
)
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import check_real, dispatched_namespace, max_float_dtype, numpy_namespace
from .._base import _Transformer, restore_on_error
from .._device import host_matmul
from .._docstrings import fill_doc


@fill_doc()
class ZCAWhitener(_Transformer, BaseEstimator):
    r"""ZCA (zero-phase) whitening.

    With the empirical mean :math:`\hat\mu` and covariance
    :math:`\hat\Sigma = U \Lambda U^\top` (normalised by :math:`T-1`),

    .. math:: x \leftarrow U (\Lambda + \epsilon I)^{-1/2} U^\top (x - \hat\mu).

    The output has zero mean and covariance
    :math:`U \Lambda (\Lambda+\epsilon I)^{-1} U^\top`, the identity when
    ``eps`` is small against the eigenvalues. Among all whitening transforms ZCA
    is the one closest to the identity, so whitened image patches still look
    like images (edges are enhanced). ``eps`` damps the directions of tiny
    variance, where whitening would mostly amplify noise.

    Read more in the :ref:`User Guide <whitening>`.

    Parameters
    ----------
    eps : float, default=1e-2
        Added to the eigenvalues; in the units of the data's variance.
    copy : bool, default=True
        If False, ``X`` may be centred in place during ``fit`` and ``transform``
        when it is already a float array.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Empirical mean.
    components_ : ndarray of shape (n_features, n_features)
        Eigenvectors of the covariance as rows, by decreasing eigenvalue.
    explained_variance_ : ndarray of shape (n_features,)
        Eigenvalues of the covariance, decreasing.
    whitening_ : ndarray of shape (n_features, n_features)
        The symmetric matrix :math:`U (\Lambda+\epsilon I)^{-1/2} U^\top`.
    dewhitening_ : ndarray of shape (n_features, n_features)
        Its inverse :math:`U (\Lambda+\epsilon I)^{1/2} U^\top`.
    {fitted_features}

    See Also
    --------
    sklearn.decomposition.PCA : PCA whitening (``whiten=True``) rotates the data.

    References
    ----------
    A. J. Bell and T. J. Sejnowski, "The 'independent components' of natural
    scenes are edge filters", Vision Research 1997.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import ZCAWhitener
    >>> X = np.random.RandomState(0).randn(1000, 3) @ np.array([[2., 1, 0], [0, 1, 0], [0, 0, .5]])
    >>> Z = ZCAWhitener(eps=1e-8).fit_transform(X)
    >>> np.round(np.cov(Z, rowvar=False), 6) + 0.0
    array([[1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """

    _parameter_constraints: dict = {
        "eps": [Interval(Real, 0, None, closed="left")],
        "copy": ["boolean"],
    }

    def __init__(self, eps=1e-2, *, copy=True):
        self.eps = eps
        self.copy = copy

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Estimate the mean and the whitening matrix.

        {fit_parameters}

        {fit_returns}
        """
        xp, device = dispatched_namespace(X)
        if xp is None:  # numpy: scipy's eigh, numpy attributes
            X = validate_data(self, X, dtype=[np.float64, np.float32])
            xp, wide, eigh = numpy_namespace, np.float64, linalg.eigh
        else:  # Array API dispatch: X's namespace and device, attributes there
            X = validate_data(self, check_real(X, xp), dtype=[xp.float64, xp.float32])
            wide, eigh = max_float_dtype(xp, device), xp.linalg.eigh
        X_wide = xp.astype(X, wide)
        mean = xp.mean(X_wide, axis=0)
        Xc = X_wide - mean
        cov = (Xc.T @ Xc) / max(X.shape[0] - 1, 1)
        # explained_variance_ is kept in X's dtype: a float32 X's covariance must fit too
        if (not bool(xp.all(xp.isfinite(cov)))
                or float(xp.max(xp.abs(cov))) > float(xp.finfo(X.dtype).max)):
            raise ValueError(
                f"X has values of magnitude up to {float(xp.max(xp.abs(X_wide))):.3g}: its "
                f"covariance overflows {X.dtype}; rescale X."
            )
        eigval, eigvec = eigh(cov)
        eigval = xp.clip(xp.flip(eigval, axis=0), min=0.0)
        eigvec = xp.flip(eigvec, axis=1)
        top = float(xp.max(eigval))
        if self.eps == 0 and float(xp.min(eigval)) <= 1e-12 * max(top, 1e-300):
            raise ValueError(
                "The covariance of X is singular; ZCAWhitener needs eps > 0 to whiten it."
            )
        scale = eigval + self.eps
        self.mean_ = xp.astype(mean, X.dtype)
        self.components_ = xp.astype(eigvec.T, X.dtype)
        self.explained_variance_ = xp.astype(eigval, X.dtype)
        self.whitening_ = xp.astype((eigvec / xp.sqrt(scale)) @ eigvec.T, X.dtype)
        self.dewhitening_ = xp.astype((eigvec * xp.sqrt(scale)) @ eigvec.T, X.dtype)
        return self

    def transform(self, X):
        """Whiten ``X``.

        {transform_parameters}

        Returns
        -------
        X_white : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        xp = self._fitted_namespace(X, "transform", "mean_")[0]
        if xp is not None:
            X = validate_data(self, check_real(X, xp), dtype=[xp.float64, xp.float32],
                              reset=False)
            return (X - xp.astype(self.mean_, X.dtype)) @ xp.astype(self.whitening_, X.dtype)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False, copy=self.copy)
        X -= self.mean_.astype(X.dtype, copy=False)
        return host_matmul(X, self.whitening_.astype(X.dtype, copy=False))

    def inverse_transform(self, X):
        """Map whitened data back: ``X @ dewhitening_ + mean_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        xp = self._fitted_namespace(X, "inverse_transform", "mean_")[0]
        dtypes = [np.float64, np.float32] if xp is None else [xp.float64, xp.float32]
        X = check_array(X, dtype=dtypes)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but ZCAWhitener is expecting "
                f"{self.n_features_in_} features as input."
            )
        if xp is not None:
            return X @ xp.astype(self.dewhitening_, X.dtype) + xp.astype(self.mean_, X.dtype)
        out = host_matmul(X, self.dewhitening_.astype(X.dtype, copy=False))
        out += self.mean_.astype(X.dtype, copy=False)
        return out

    @property
    def _n_features_out(self):
        return self.n_features_in_
