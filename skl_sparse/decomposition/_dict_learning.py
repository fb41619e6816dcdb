"""scikit-learn's dictionary-learning estimators and functions on our engines.

`SparseCoder`, `DictionaryLearning`, `MiniBatchDictionaryLearning`, `dict_learning` and
`dict_learning_online` take scikit-learn 1.9's parameters (names, order, defaults), keep
its fitted attributes and raise its errors; the codes come from our coding layer
(`skl_sparse.sparse_coding._encode`), the dictionary updates from ours
(`skl_sparse.sparse_coding._dictionary`: block-coordinate descent, non-negative with
``positive_dict``, unused atoms replaced by the worst-reconstructed samples) and every
step runs on ``device``. The learners compute in float64 and return the input's float
dtype. What differs from scikit-learn, by design: atoms are normalised to unit norm
(scikit-learn projects them on the unit ball; a used atom of a lasso solution has unit
norm at the optimum either way) and unused atoms take the worst-reconstructed samples
(scikit-learn draws a sample and adds noise).
"""

import copy
import itertools
import sys
import time
from numbers import Integral, Real

import numpy as np
import torch
from scipy import linalg
from sklearn import config_context
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_array, check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.extmath import randomized_svd, svd_flip
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import check_real, dispatched_namespace, from_torch, host_array, to_torch
from .._base import _Transformer, restore_on_error
from .._device import compute_device, resolve_device, to_numpy, to_tensor
from .._validation import check_no_overflow
from ..sparse_coding._dict_learning import add_code_statistics_, code_statistics
from ..sparse_coding._dictionary import resample_atoms_, update_dict_bcd_
from ..sparse_coding._encode import encode_tensor
from ._encode import (
    ALGORITHMS,
    check_positive_coding,
    dictionary_tensor,
    encode_dispatch,
    solver_of,
)

__all__ = [
    "DictionaryLearning",
    "MiniBatchDictionaryLearning",
    "SparseCoder",
    "dict_learning",
    "dict_learning_online",
]

_TRANSFORM_CONSTRAINTS = {
    "transform_algorithm": [StrOptions(set(ALGORITHMS))],
    "transform_n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
    "transform_alpha": [Interval(Real, 0, None, closed="left"), None],
    "split_sign": ["boolean"],
    "n_jobs": [Integral, None],
    "positive_code": ["boolean"],
    "transform_max_iter": [Interval(Integral, 0, None, closed="left")],
    "device": [str],
}


class _BaseSparseCoding(_Transformer):
    """scikit-learn's transform-time behaviour: codes by ``transform_algorithm``, split
    by sign with ``split_sign``, reconstructions. Under scikit-learn's Array API dispatch
    the codes are computed on X's device and returned in X's namespace."""

    def _validated(self, X, xp, reset):
        """``X`` validated: numpy without dispatch (``xp`` None), else a tensor on X's
        device."""
        if xp is None:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        return self._tensor_input(X, xp, reset)

    def _transform(self, X, dictionary, attribute="components_"):
        """Codes of ``X`` on ``dictionary``; ``attribute``: the fitted array whose
        namespace X must share under dispatch (None: any, the dictionary going to X)."""
        if attribute is None:
            xp, xp_device = dispatched_namespace(X)
        else:
            xp, xp_device = self._fitted_namespace(X, "transform", attribute)
        X = self._validated(X, xp, reset=False)
        if xp is None:
            dictionary = check_array(dictionary, dtype=[np.float64, np.float32])
        else:
            dictionary = dictionary_tensor(dictionary, X)
        if dictionary.shape[1] != X.shape[1]:
            raise ValueError(
                "Dictionary and X have different numbers of features:"
                f"dictionary.shape: {tuple(dictionary.shape)} X.shape: {tuple(X.shape)}"
            )
        check_positive_coding(self.transform_algorithm, self.positive_code)
        if hasattr(self, "alpha") and self.transform_alpha is None:
            transform_alpha = self.alpha
        else:
            transform_alpha = self.transform_alpha
        code = encode_dispatch(
            X, dictionary, algorithm=self.transform_algorithm,
            n_nonzero_coefs=self.transform_n_nonzero_coefs, alpha=transform_alpha,
            max_iter=self.transform_max_iter, positive=self.positive_code,
            device=self.device, name="transform_n_nonzero_coefs",
        )
        if xp is not None:
            if self.split_sign:
                code = torch.cat([code.clamp(min=0), -code.clamp(max=0)], dim=1)
            return from_torch(code, xp, xp_device)
        if self.split_sign:  # the positive and the negative part, side by side
            code = np.hstack([np.maximum(code, 0), -np.minimum(code, 0)])
        return code

    def transform(self, X):
        """Encode the data as a sparse combination of the dictionary atoms.

        Coding method is determined by the object parameter ``transform_algorithm``.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Test data to be transformed, must have the same number of features as the
            data used to train the model.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Transformed data.
        """
        check_is_fitted(self)
        return self._transform(X, self.components_)

    def _inverse_transform(self, code, dictionary, attribute="components_"):
        if attribute is None:
            xp, xp_device = dispatched_namespace(code)
        else:
            xp, xp_device = self._fitted_namespace(code, "inverse_transform", attribute)
        if xp is None:
            code, dictionary = check_array(code), np.asarray(dictionary)
        else:  # the dictionary goes to the codes' namespace and device
            code = check_array(check_real(code, xp), dtype=[xp.float64, xp.float32])
            if not torch.is_tensor(dictionary):
                dictionary = torch.from_numpy(np.asarray(host_array(dictionary)))
            # the product's dtype is numpy's: the wider of the two
            dtype = torch.promote_types(to_torch(code, xp).dtype, dictionary.dtype)
            dictionary = from_torch(dictionary.to(dtype), xp, xp_device)
            code = xp.astype(code, dictionary.dtype)
        expected_n_components = dictionary.shape[0]
        if self.split_sign:
            expected_n_components += expected_n_components
        if not code.shape[1] == expected_n_components:
            raise ValueError(
                "The number of components in the code is different from the "
                "number of components in the dictionary."
                f"Expected {expected_n_components}, got {code.shape[1]}."
            )
        if self.split_sign:
            n_features = code.shape[1] // 2
            code = code[:, :n_features] - code[:, n_features:]
        return code @ dictionary

    def inverse_transform(self, X):
        """Transform data back to its original space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Data to be transformed back. Must have the same number of components as the
            data used to train the model.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Transformed data.
        """
        check_is_fitted(self)
        return self._inverse_transform(X, self.components_)


class SparseCoder(_BaseSparseCoding, BaseEstimator):
    """Sparse coding on a fixed dictionary, as :class:`sklearn.decomposition.SparseCoder`.

    Finds a sparse representation of data against a fixed, precomputed dictionary: a
    ``code`` such that ``X ~= code @ dictionary``, by the algorithms of
    :func:`sparse_encode`. ``transform`` needs no ``fit``.

    Parameters
    ----------
    dictionary : ndarray of shape (n_components, n_features)
        The dictionary atoms used for sparse coding (normally of unit norm).
    transform_algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, \
            default="omp"
        Algorithm used to transform the data (see :func:`sparse_encode`).
    transform_n_nonzero_coefs : int, default=None
        Atoms per code of "lars" and "omp"; None: 10% of ``n_features``.
    transform_alpha : float, default=None
        The lasso's :math:`\\ell_1` weight, or the threshold; None: 1.
    split_sign : bool, default=False
        Return the codes' positive and negative parts side by side.
    n_jobs : int, default=None
        Accepted for compatibility: our CPU threads follow ``torch.set_num_threads``.
    positive_code : bool, default=False
        Non-negative codes.
    transform_max_iter : int, default=1000
        Iterations of "lasso_cd".
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on the input's device instead.

    Attributes
    ----------
    n_components_ : int
        Number of atoms.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    skl_sparse.SparseCoder : our own coder, which also learns its dictionary.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse.decomposition import SparseCoder
    >>> X = np.array([[-1, -1, -1], [0, 0, 3]])
    >>> dictionary = np.array(
    ...     [[0, 1, 0],
    ...      [-1, -1, 2],
    ...      [1, 1, 1],
    ...      [0, 1, 1],
    ...      [0, 2, 1]],
    ...    dtype=np.float64
    ... )
    >>> coder = SparseCoder(
    ...     dictionary=dictionary, transform_algorithm='lasso_lars',
    ...     transform_alpha=1e-10, device="cpu",
    ... )
    >>> coder.transform(X).round(6) + 0.0  # + 0.0: a tiny negative code prints as 0.
    array([[ 0.,  0., -1.,  0.,  0.],
           [ 0.,  1.,  1.,  0.,  0.]])
    """

    _parameter_constraints: dict = {"dictionary": ["array-like"], **_TRANSFORM_CONSTRAINTS}

    def __init__(
        self,
        dictionary,
        *,
        transform_algorithm="omp",
        transform_n_nonzero_coefs=None,
        transform_alpha=None,
        split_sign=False,
        n_jobs=None,
        positive_code=False,
        transform_max_iter=1000,
        device="auto",
    ):
        self.dictionary = dictionary
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.split_sign = split_sign
        self.n_jobs = n_jobs
        self.positive_code = positive_code
        self.transform_max_iter = transform_max_iter
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Only validate the parameters of the estimator and the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data. Only used for input validation.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        xp, device = dispatched_namespace(X)
        X = validate_data(self, X if xp is None else check_real(X, xp))
        shape = tuple(np.shape(self.dictionary))  # a tensor's too, without a copy
        if X.shape[1] != shape[1]:
            raise ValueError(
                "Dictionary and X have different numbers of features:"
                f"dictionary.shape: {shape} X.shape: {tuple(X.shape)}"
            )
        self.n_components_ = shape[0]
        # an empty array of fit's namespace and device: a fitted coder's transform takes
        # X from there only, as for every estimator under Array API dispatch
        self._fit_namespace = (np.zeros(0, dtype=X.dtype) if xp is None
                               else xp.zeros(0, dtype=X.dtype, device=device))
        return self

    def transform(self, X, y=None):
        """Encode the data as a sparse combination of the dictionary atoms.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Transformed data.
        """
        attribute = "_fit_namespace" if hasattr(self, "_fit_namespace") else None
        return self._transform(X, self.dictionary, attribute=attribute)

    def inverse_transform(self, X):
        """Transform data back to its original space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            Transformed data.
        """
        return self._inverse_transform(X, self.dictionary, attribute=None)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    @property
    def _n_features_out(self):
        return self.n_components_


def _initial_factors(X, n_components, code_init, dict_init):
    """scikit-learn's start of a batch fit: the given code and dictionary (both), or the
    SVD of ``X`` (signs flipped for a deterministic output), truncated or padded with
    zero atoms to ``n_components``. ``X``: numpy, or a float64 tensor (Array API
    dispatch), whose factors are tensors on its device."""
    if torch.is_tensor(X):
        if code_init is not None and dict_init is not None:
            code = dictionary_tensor(code_init, X, name="code_init")
            dictionary = dictionary_tensor(dict_init, X, name="dict_init")
        else:
            code, S, dictionary = torch.linalg.svd(X, full_matrices=False)
            code, dictionary = svd_flip(code, dictionary)
            dictionary = S[:, None] * dictionary
        r = dictionary.shape[0]
        if n_components <= r:
            return code[:, :n_components], dictionary[:n_components, :]
        return (torch.cat([code, code.new_zeros((code.shape[0], n_components - r))], dim=1),
                torch.cat([dictionary, dictionary.new_zeros((n_components - r,
                                                             dictionary.shape[1]))]))
    if code_init is not None and dict_init is not None:
        code = np.array(code_init, dtype=np.float64)
        dictionary = np.array(dict_init, dtype=np.float64)
    else:
        code, S, dictionary = linalg.svd(X, full_matrices=False)
        code, dictionary = svd_flip(code, dictionary)
        dictionary = S[:, np.newaxis] * dictionary
    r = len(dictionary)
    if n_components <= r:
        return code[:, :n_components], dictionary[:n_components, :]
    code = np.c_[code, np.zeros((len(code), n_components - r))]
    return code, np.r_[dictionary, np.zeros((n_components - r, dictionary.shape[1]))]


def _objective(X, D, H, alpha):
    """``1/2 ||X - H D||_F^2 + alpha ||H||_1`` (a float: one host sync)."""
    R = X - H @ D
    return float(0.5 * (R * R).sum() + alpha * H.abs().sum())


def _update_dictionary(X, D, H, A, B, rng, positive_dict):
    """The dictionary step of both learners: one block-coordinate sweep from the
    statistics; unused atoms take the worst-reconstructed samples, their codes and
    statistics zeroed."""
    unused = update_dict_bcd_(D, A, B, positive=positive_dict)
    if unused:
        resample_atoms_(D, unused, X, H, rng, positive=positive_dict)
        H[:, unused] = 0
        A[unused, :] = 0
        A[:, unused] = 0
        B[unused] = 0


class DictionaryLearning(_BaseSparseCoding, BaseEstimator):
    """Dictionary learning, as :class:`sklearn.decomposition.DictionaryLearning`.

    Solves, over the codes :math:`U` and the atoms :math:`V` (rows),

    .. math:: \\min_{U, V} \\tfrac12 \\|X - U V\\|_F^2 + \\alpha \\|U\\|_{1,1}
              \\quad \\text{s.t. } \\|V_k\\|_2 = 1,

    alternating the lasso codes of all samples (``fit_algorithm``) and a
    block-coordinate sweep over the atoms, from the SVD of ``X`` (or ``code_init`` and
    ``dict_init``), until the objective improves by less than ``tol`` relative.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; None: ``n_features``.
    alpha : float, default=1.0
        Sparsity controlling parameter (the :math:`\\ell_1` weight).
    max_iter : int, default=1000
        Most alternations.
    tol : float, default=1e-8
        Relative decrease of the objective below which the fit stops.
    fit_algorithm : {"lars", "cd"}, default="lars"
        The lasso solver of the fit: our homotopy ("lars") or proximal gradient ("cd").
    transform_algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, \
            default="omp"
        Algorithm of ``transform`` (see :func:`sparse_encode`).
    transform_n_nonzero_coefs : int, default=None
        Atoms per code of "lars" and "omp"; None: 10% of ``n_features``.
    transform_alpha : float, default=None
        The lasso's weight or the threshold of ``transform``; None: ``alpha``.
    n_jobs : int or None, default=None
        Accepted for compatibility: our CPU threads follow ``torch.set_num_threads``.
    code_init : ndarray of shape (n_samples, n_components), default=None
        Initial codes (used with ``dict_init``).
    dict_init : ndarray of shape (n_components, n_features), default=None
        Initial dictionary (used with ``code_init``).
    callback : callable, default=None
        Called with the fit's local variables every fifth alternation.
    verbose : bool, default=False
        Print the progress.
    split_sign : bool, default=False
        Return the codes' positive and negative parts side by side.
    random_state : int, RandomState instance or None, default=None
        Gaussian draws for atoms no sample can replace.
    positive_code : bool, default=False
        Non-negative codes.
    positive_dict : bool, default=False
        Non-negative atoms.
    transform_max_iter : int, default=1000
        Iterations of the iterative lasso ("cd", "lasso_cd").
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on the input's device instead.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms.
    error_ : array
        The objective after each alternation.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when they are all strings.
    n_iter_ : int
        Alternations run.

    See Also
    --------
    skl_sparse.SparseCoder : our batch learner, with greedy codes and K-SVD.

    References
    ----------
    J. Mairal, F. Bach, J. Ponce, G. Sapiro, 2009: Online dictionary learning for
    sparse coding.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_sparse_coded_signal
    >>> from skl_sparse.decomposition import DictionaryLearning
    >>> X, dictionary, code = make_sparse_coded_signal(
    ...     n_samples=30, n_components=15, n_features=20, n_nonzero_coefs=10,
    ...     random_state=42,
    ... )
    >>> dict_learner = DictionaryLearning(
    ...     n_components=15, transform_algorithm='lasso_lars', transform_alpha=0.1,
    ...     random_state=42, device="cpu",
    ... )
    >>> X_transformed = dict_learner.fit(X).transform(X)
    >>> X_hat = X_transformed @ dict_learner.components_
    >>> bool(np.mean(np.sum((X_hat - X) ** 2, axis=1) / np.sum(X ** 2, axis=1)) < 0.1)
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_algorithm": [StrOptions({"lars", "cd"})],
        "code_init": [np.ndarray, None],
        "dict_init": [np.ndarray, None],
        "callback": [callable, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "positive_dict": ["boolean"],
        **_TRANSFORM_CONSTRAINTS,
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1,
        max_iter=1000,
        tol=1e-8,
        fit_algorithm="lars",
        transform_algorithm="omp",
        transform_n_nonzero_coefs=None,
        transform_alpha=None,
        n_jobs=None,
        code_init=None,
        dict_init=None,
        callback=None,
        verbose=False,
        split_sign=False,
        random_state=None,
        positive_code=False,
        positive_dict=False,
        transform_max_iter=1000,
        device="auto",
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.fit_algorithm = fit_algorithm
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.n_jobs = n_jobs
        self.code_init = code_init
        self.dict_init = dict_init
        self.callback = callback
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.transform_max_iter = transform_max_iter
        self.device = device

    def fit(self, X, y=None):
        """Fit the model from data in X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vector.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        self.fit_transform(X)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit_transform(self, X, y=None):
        """Fit the model from data in X and return the codes of the last alternation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vector.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        V : ndarray of shape (n_samples, n_components)
            Transformed data.
        """
        check_positive_coding(self.fit_algorithm, self.positive_code)
        rng = check_random_state(self.random_state)
        xp, xp_device = dispatched_namespace(X)
        X = self._validated(X, xp, reset=True)
        check_no_overflow(X)
        n_components = X.shape[1] if self.n_components is None else self.n_components
        X64 = X.to(torch.float64) if xp is not None else X.astype(np.float64)
        code, dictionary, errors, n_iter = self._learn(X64, n_components, rng)
        self.error_ = errors
        self.n_iter_ = n_iter
        if xp is not None:
            self.components_ = from_torch(dictionary.to(X.dtype), xp, xp_device)
            return from_torch(code.to(X.dtype), xp, xp_device)
        self.components_ = to_numpy(dictionary).astype(X.dtype)
        return to_numpy(code).astype(X.dtype)

    def _learn(self, X, n_components, rng):
        """scikit-learn's alternation on our engines: returns the codes of the last
        alternation and the dictionary (tensors), the objectives and the alternations
        run. A tensor ``X`` (Array API dispatch) is learned from on its device."""
        start = time.time()
        device = compute_device(X, self.device)
        code, dictionary = _initial_factors(X, n_components, self.code_init, self.dict_init)
        Xt = to_tensor(X, device)
        D = to_tensor(dictionary, device).clone()
        H = to_tensor(code, device)
        solver = solver_of("lasso_" + self.fit_algorithm, device)
        errors, current_cost, ii = [], np.nan, -1
        if self.verbose == 1:
            print("[dict_learning]", end=" ")
        for ii in range(self.max_iter):
            self._report(ii, time.time() - start, current_cost)
            H = encode_tensor(Xt, D, self.alpha, solver=solver, positive=self.positive_code,
                              max_iter=max(self.transform_max_iter, 1), tol=1e-6,
                              init=H if solver == "fista" else None).codes
            A, B = code_statistics(H, Xt)
            _update_dictionary(Xt, D, H, A, B, rng, self.positive_dict)
            current_cost = _objective(Xt, D, H, self.alpha)
            errors.append(current_cost)
            if ii > 0 and errors[-2] - errors[-1] < self.tol * errors[-1]:
                if self.verbose:
                    print("" if self.verbose == 1 else
                          f"--- Convergence reached after {ii} iterations")
                break
            if ii % 5 == 0 and self.callback is not None:
                self.callback(locals())
        return H, D, errors, ii + 1

    def _report(self, ii, elapsed, cost):
        if self.verbose == 1:
            sys.stdout.write(".")
            sys.stdout.flush()
        elif self.verbose:
            print(f"Iteration {ii: 3d} (elapsed time: {elapsed: 3.0f}s, "
                  f"{elapsed / 60: 4.1f}mn, current cost {cost: 7.3f})")

    @property
    def _n_features_out(self):
        return self.components_.shape[0]


class MiniBatchDictionaryLearning(_BaseSparseCoding, BaseEstimator):
    """Mini-batch dictionary learning, as
    :class:`sklearn.decomposition.MiniBatchDictionaryLearning`.

    The problem of :class:`DictionaryLearning`, learned online (Mairal et al. 2009):
    each mini-batch's lasso codes update the running statistics
    :math:`A \\leftarrow \\beta A + H^\\top H / b`, :math:`B \\leftarrow \\beta B +
    H^\\top X / b` (scikit-learn's weights :math:`\\beta`), then one block-coordinate
    sweep updates the atoms. It stops after ``max_iter`` passes over the data, when the
    dictionary changes by less than ``tol``, or when the smoothed batch cost has not
    improved for ``max_no_improvement`` batches.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; None: ``n_features``.
    alpha : float, default=1
        Sparsity controlling parameter (the :math:`\\ell_1` weight).
    max_iter : int, default=1000
        Most passes over the data.
    fit_algorithm : {"lars", "cd"}, default="lars"
        The lasso solver of the fit: our homotopy ("lars") or proximal gradient ("cd").
    n_jobs : int, default=None
        Accepted for compatibility: our CPU threads follow ``torch.set_num_threads``.
    batch_size : int, default=256
        Samples per mini-batch.
    shuffle : bool, default=True
        Shuffle the samples before forming batches.
    dict_init : ndarray of shape (n_components, n_features), default=None
        Initial dictionary (used as given); the randomized SVD of ``X`` otherwise.
    transform_algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, \
            default="omp"
        Algorithm of ``transform`` (see :func:`sparse_encode`).
    transform_n_nonzero_coefs : int, default=None
        Atoms per code of "lars" and "omp"; None: 10% of ``n_features``.
    transform_alpha : float, default=None
        The lasso's weight or the threshold of ``transform``; None: ``alpha``.
    verbose : bool or int, default=False
        Print the progress.
    split_sign : bool, default=False
        Return the codes' positive and negative parts side by side.
    random_state : int, RandomState instance or None, default=None
        The initial SVD, the shuffling, gaussian draws for atoms no sample replaces.
    positive_code : bool, default=False
        Non-negative codes.
    positive_dict : bool, default=False
        Non-negative atoms.
    transform_max_iter : int, default=1000
        Iterations of the iterative lasso ("cd", "lasso_cd").
    callback : callable, default=None
        Called with the fit's local variables after every batch.
    tol : float, default=1e-3
        Stop when the dictionary changes by at most ``tol`` (Frobenius norm per atom)
        between batches; 0 turns this off.
    max_no_improvement : int, default=10
        Stop after that many batches without improvement of the smoothed cost; None
        turns this off.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on the input's device instead.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The atoms.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when they are all strings.
    n_iter_ : int
        Passes over the data.
    n_steps_ : int
        Mini-batches processed.

    See Also
    --------
    skl_sparse.OnlineDictionaryLearner : our online learner.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_sparse_coded_signal
    >>> from skl_sparse.decomposition import MiniBatchDictionaryLearning
    >>> X, dictionary, code = make_sparse_coded_signal(
    ...     n_samples=30, n_components=15, n_features=20, n_nonzero_coefs=10,
    ...     random_state=42)
    >>> dict_learner = MiniBatchDictionaryLearning(
    ...     n_components=15, batch_size=3, transform_algorithm='lasso_lars',
    ...     transform_alpha=0.1, max_iter=20, random_state=42, device="cpu")
    >>> X_transformed = dict_learner.fit_transform(X)
    >>> X_transformed.shape
    (30, 15)
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "fit_algorithm": [StrOptions({"cd", "lars"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "dict_init": [None, np.ndarray],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "positive_dict": ["boolean"],
        "callback": [None, callable],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_no_improvement": [Interval(Integral, 0, None, closed="left"), None],
        **_TRANSFORM_CONSTRAINTS,
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1,
        max_iter=1_000,
        fit_algorithm="lars",
        n_jobs=None,
        batch_size=256,
        shuffle=True,
        dict_init=None,
        transform_algorithm="omp",
        transform_n_nonzero_coefs=None,
        transform_alpha=None,
        verbose=False,
        split_sign=False,
        random_state=None,
        positive_code=False,
        positive_dict=False,
        transform_max_iter=1000,
        callback=None,
        tol=1e-3,
        max_no_improvement=10,
        device="auto",
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.max_iter = max_iter
        self.fit_algorithm = fit_algorithm
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.dict_init = dict_init
        self.transform_algorithm = transform_algorithm
        self.transform_n_nonzero_coefs = transform_n_nonzero_coefs
        self.transform_alpha = transform_alpha
        self.verbose = verbose
        self.split_sign = split_sign
        self.random_state = random_state
        self.positive_code = positive_code
        self.positive_dict = positive_dict
        self.transform_max_iter = transform_max_iter
        self.callback = callback
        self.tol = tol
        self.max_no_improvement = max_no_improvement
        self.device = device

    def _check_params(self, X):
        self._n_components = X.shape[1] if self.n_components is None else self.n_components
        check_positive_coding(self.fit_algorithm, self.positive_code)
        self._batch_size = min(self.batch_size, X.shape[0])

    def _initialize_dict(self, X, random_state):
        """``dict_init`` as given, or the randomized SVD of ``X``; truncated or padded
        with zero atoms to ``n_components``."""
        if torch.is_tensor(X):  # Array API dispatch: on X's device
            if self.dict_init is not None:
                dictionary = dictionary_tensor(self.dict_init, X, name="dict_init")
            else:
                # the array API has no LU factorisation: QR normalises the power steps
                _, S, dictionary = randomized_svd(X, self._n_components,
                                                  random_state=random_state,
                                                  power_iteration_normalizer="QR")
                dictionary = S[:, None] * dictionary
            k = self._n_components
            if k <= dictionary.shape[0]:
                return dictionary[:k, :]
            return torch.cat([dictionary, dictionary.new_zeros(
                (k - dictionary.shape[0], X.shape[1]))])
        if self.dict_init is not None:
            dictionary = np.array(self.dict_init, dtype=np.float64)
        else:
            with config_context(array_api_dispatch=False):  # numpy's: LU-normalised steps
                _, S, dictionary = randomized_svd(X, self._n_components,
                                                  random_state=random_state)
            dictionary = S[:, np.newaxis] * dictionary
        k = self._n_components
        if k <= len(dictionary):
            return dictionary[:k, :]
        return np.concatenate([dictionary, np.zeros((k - len(dictionary), X.shape[1]))])

    def _minibatch_step(self, X, state, step):
        """One mini-batch (a tensor): its codes, scikit-learn's weights of the running
        statistics, the dictionary sweep. Returns the batch's mean cost."""
        D, A, B = state["D"], state["A"], state["B"]
        batch_size = X.shape[0]
        H = encode_tensor(X, D, self.alpha, solver=state["solver"], positive=self.positive_code,
                          max_iter=max(self.transform_max_iter, 1), tol=1e-6).codes
        batch_cost = _objective(X, D, H, self.alpha) / batch_size
        if step < batch_size - 1:
            theta = (step + 1) * batch_size
        else:
            theta = batch_size**2 + step + 1 - batch_size
        beta = (theta + 1 - batch_size) / (theta + 1)
        add_code_statistics_(A, B, H, X, beta, 1.0 / batch_size)
        _update_dictionary(X, D, H, A, B, state["rng"], self.positive_dict)
        return batch_cost

    def _check_convergence(self, batch_size, batch_cost, new_dict, old_dict, n_samples,
                           step, n_steps):
        """scikit-learn's early stopping: a small change of the dictionary, or no
        improvement of the smoothed (exponentially weighted) batch cost."""
        step = step + 1
        if step <= min(100, n_samples / batch_size):
            if self.verbose:
                print(f"Minibatch step {step}/{n_steps}: mean batch cost: {batch_cost}")
            return False
        if self._ewa_cost is None:
            self._ewa_cost = batch_cost
        else:
            weight = min(batch_size / (n_samples + 1), 1)
            self._ewa_cost = self._ewa_cost * (1 - weight) + batch_cost * weight
        if self.verbose:
            print(f"Minibatch step {step}/{n_steps}: mean batch cost: "
                  f"{batch_cost}, ewa cost: {self._ewa_cost}")
        dict_diff = float(torch.linalg.norm(new_dict - old_dict)) / self._n_components
        if self.tol > 0 and dict_diff <= self.tol:
            if self.verbose:
                print(f"Converged (small dictionary change) at step {step}/{n_steps}")
            return True
        if self._ewa_cost_min is None or self._ewa_cost < self._ewa_cost_min:
            self._no_improvement = 0
            self._ewa_cost_min = self._ewa_cost
        else:
            self._no_improvement += 1
        if (self.max_no_improvement is not None
                and self._no_improvement >= self.max_no_improvement):
            if self.verbose:
                print("Converged (lack of improvement in objective function) "
                      f"at step {step}/{n_steps}")
            return True
        return False

    def _new_state(self, X, device):
        """The dictionary and zero statistics of a first fit (float64 tensors)."""
        D = to_tensor(self._initialize_dict(X, self._random_state), device).clone()
        k = self._n_components
        return {"D": D, "A": D.new_zeros((k, k)), "B": D.new_zeros((k, X.shape[1])),
                "solver": solver_of("lasso_" + self.fit_algorithm, device),
                "rng": self._random_state}

    def _store(self, state, dtype, namespace):
        """The learned state as numpy arrays of ``dtype``, or under Array API dispatch
        (``namespace``: ``(xp, device)``) as arrays of X's namespace on its device."""
        arrays = {"components_": state["D"], "_A": state["A"],
                  "_B": state["B"].T}  # scikit-learn's layout
        for name, T in arrays.items():
            if namespace is None:
                setattr(self, name, to_numpy(T).astype(dtype))
            else:
                setattr(self, name, from_torch(T.to(dtype), *namespace))

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Fit the model from data in X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vector.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Returns the instance itself.
        """
        xp, xp_device = dispatched_namespace(X)
        if xp is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], order="C", copy=False)
        else:  # Array API dispatch: learned on X's device
            X = self._validated(X, xp, reset=True)
        check_no_overflow(X)
        self._check_params(X)
        self._random_state = check_random_state(self.random_state)
        if xp is None:
            device, X64 = resolve_device(self.device), X.astype(np.float64)
        else:
            device, X64 = X.device, X.to(torch.float64)
        state = self._new_state(X64, device)
        if self.shuffle and xp is None:
            X64 = X64.copy()
            self._random_state.shuffle(X64)
        elif self.shuffle:
            # the order numpy's shuffle gives, drawn from the same stream
            X64 = X64[torch.from_numpy(self._random_state.permutation(len(X64))).to(device)]
        X_train = to_tensor(X64, device)
        n_samples = X_train.shape[0]
        if self.verbose:
            print("[dict_learning]")
        self._ewa_cost, self._ewa_cost_min, self._no_improvement = None, None, 0
        batches = itertools.cycle(gen_batches(n_samples, self._batch_size))
        n_steps_per_iter = int(np.ceil(n_samples / self._batch_size))
        n_steps = self.max_iter * n_steps_per_iter
        old_dict = state["D"].clone()
        i = -1  # max_iter=0: no step
        for i, batch in zip(range(n_steps), batches, strict=False):
            X_batch = X_train[batch]
            batch_cost = self._minibatch_step(X_batch, state, i)
            if self._check_convergence(X_batch.shape[0], batch_cost, state["D"], old_dict,
                                       n_samples, i, n_steps):
                break
            if self.callback is not None:
                self.callback(locals())
            old_dict.copy_(state["D"])
        self.n_steps_ = i + 1
        self.n_iter_ = np.ceil(self.n_steps_ / n_steps_per_iter)
        self._store(state, X.dtype, None if xp is None else (xp, xp_device))
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y=None):
        """Update the model using the data in X as one mini-batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vector.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            Return the instance itself.
        """
        has_components = hasattr(self, "components_")
        if has_components:
            xp, xp_device = self._fitted_namespace(X, "partial_fit", "components_")
        else:
            xp, xp_device = dispatched_namespace(X)
        if xp is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                              reset=not has_components)
            device, X64 = resolve_device(self.device), X.astype(np.float64)
        else:  # Array API dispatch: learned on X's device
            X = self._validated(X, xp, reset=not has_components)
            device, X64 = X.device, X.to(torch.float64)
        check_no_overflow(X)
        if not has_components:
            self._check_params(X)
            self._random_state = check_random_state(self.random_state)
            state = self._new_state(X64, device)
            self.n_steps_ = 0
        else:
            def fitted(A):
                return to_tensor(A if xp is None else to_torch(A, xp), device,
                                 dtype=np.float64).clone()

            state = {"D": fitted(self.components_), "A": fitted(self._A),
                     "B": fitted(self._B).T.contiguous(),
                     "solver": solver_of("lasso_" + self.fit_algorithm, device),
                     # a copy: an interrupted call must not have drawn from the state
                     "rng": copy.deepcopy(self._random_state)}
        self._minibatch_step(to_tensor(X64, device), state, self.n_steps_)
        self._store(state, X.dtype, None if xp is None else (xp, xp_device))
        self._random_state = state["rng"]
        self.n_steps_ += 1
        return self

    @property
    def _n_features_out(self):
        return self.components_.shape[0]


@validate_params(
    {
        "X": ["array-like"],
        "method": [StrOptions({"lars", "cd"})],
        "return_n_iter": ["boolean"],
        "method_max_iter": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def dict_learning(
    X,
    n_components,
    *,
    alpha,
    max_iter=100,
    tol=1e-8,
    method="lars",
    n_jobs=None,
    dict_init=None,
    code_init=None,
    callback=None,
    verbose=False,
    random_state=None,
    return_n_iter=False,
    positive_dict=False,
    positive_code=False,
    method_max_iter=1000,
    device="auto",
):
    """Dictionary learning, as :func:`sklearn.decomposition.dict_learning`.

    Fits a :class:`DictionaryLearning` (see it for the parameters) and returns its
    results.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data matrix.
    n_components : int
        Number of atoms.
    alpha : int or float
        Sparsity controlling parameter.
    max_iter : int, default=100
        Most alternations.
    tol : float, default=1e-8
        Relative decrease of the objective below which the fit stops.
    method : {"lars", "cd"}, default="lars"
        The lasso solver: our homotopy ("lars") or proximal gradient ("cd").
    n_jobs : int, default=None
        Accepted for compatibility.
    dict_init : ndarray of shape (n_components, n_features), default=None
        Initial dictionary (with ``code_init``).
    code_init : ndarray of shape (n_samples, n_components), default=None
        Initial codes (with ``dict_init``).
    callback : callable, default=None
        Called every fifth alternation.
    verbose : bool, default=False
        Print the progress.
    random_state : int, RandomState instance or None, default=None
        Gaussian draws for atoms no sample can replace.
    return_n_iter : bool, default=False
        Also return the number of alternations.
    positive_dict : bool, default=False
        Non-negative atoms.
    positive_code : bool, default=False
        Non-negative codes.
    method_max_iter : int, default=1000
        Iterations of the iterative lasso ("cd").
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on the input's device instead.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        The sparse codes.
    dictionary : ndarray of shape (n_components, n_features)
        The atoms.
    errors : array
        The objective after each alternation.
    n_iter : int
        Alternations run (with ``return_n_iter``).

    Examples
    --------
    >>> from sklearn.datasets import make_sparse_coded_signal
    >>> from skl_sparse.decomposition import dict_learning
    >>> X, _, _ = make_sparse_coded_signal(
    ...     n_samples=30, n_components=15, n_features=20, n_nonzero_coefs=10,
    ...     random_state=42)
    >>> U, V, errors = dict_learning(X, n_components=15, alpha=0.1, random_state=42,
    ...                              device="cpu")
    >>> U.shape, V.shape
    ((30, 15), (15, 20))
    """
    estimator = DictionaryLearning(
        n_components=n_components, alpha=alpha, max_iter=max_iter, tol=tol,
        fit_algorithm=method, n_jobs=n_jobs, dict_init=dict_init, callback=callback,
        code_init=code_init, verbose=verbose, random_state=random_state,
        positive_code=positive_code, positive_dict=positive_dict,
        transform_max_iter=method_max_iter, device=device,
    ).set_output(transform="default")
    code = estimator.fit_transform(X)
    if return_n_iter:
        return code, estimator.components_, estimator.error_, estimator.n_iter_
    return code, estimator.components_, estimator.error_


@validate_params(
    {
        "X": ["array-like"],
        "return_code": ["boolean"],
        "method": [StrOptions({"cd", "lars"})],
        "method_max_iter": [Interval(Integral, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=False,
)
def dict_learning_online(
    X,
    n_components=2,
    *,
    alpha=1,
    max_iter=100,
    return_code=True,
    dict_init=None,
    callback=None,
    batch_size=256,
    verbose=False,
    shuffle=True,
    n_jobs=None,
    method="lars",
    random_state=None,
    positive_dict=False,
    positive_code=False,
    method_max_iter=1000,
    tol=1e-3,
    max_no_improvement=10,
    device="auto",
):
    """Online dictionary learning, as :func:`sklearn.decomposition.dict_learning_online`.

    Fits a :class:`MiniBatchDictionaryLearning` (see it for the parameters) whose
    ``transform`` is the fit's lasso, and returns its results.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data matrix.
    n_components : int or None, default=2
        Number of atoms; None: ``n_features``.
    alpha : float, default=1
        Sparsity controlling parameter.
    max_iter : int, default=100
        Most passes over the data.
    return_code : bool, default=True
        Also return the codes of ``X``.
    dict_init : ndarray of shape (n_components, n_features), default=None
        Initial dictionary.
    callback : callable, default=None
        Called after every batch.
    batch_size : int, default=256
        Samples per mini-batch.
    verbose : bool, default=False
        Print the progress.
    shuffle : bool, default=True
        Shuffle the samples before forming batches.
    n_jobs : int, default=None
        Accepted for compatibility.
    method : {"lars", "cd"}, default="lars"
        The lasso solver: our homotopy ("lars") or proximal gradient ("cd").
    random_state : int, RandomState instance or None, default=None
        The initial SVD, the shuffling, gaussian draws.
    positive_dict : bool, default=False
        Non-negative atoms.
    positive_code : bool, default=False
        Non-negative codes.
    method_max_iter : int, default=1000
        Iterations of the iterative lasso ("cd").
    tol : float, default=1e-3
        Stop when the dictionary changes by at most ``tol`` between batches.
    max_no_improvement : int, default=10
        Stop after that many batches without improvement of the smoothed cost.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on the input's device instead.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        The sparse codes (with ``return_code``).
    dictionary : ndarray of shape (n_components, n_features)
        The atoms.

    Examples
    --------
    >>> from sklearn.datasets import make_sparse_coded_signal
    >>> from skl_sparse.decomposition import dict_learning_online
    >>> X, _, _ = make_sparse_coded_signal(
    ...     n_samples=30, n_components=15, n_features=20, n_nonzero_coefs=10,
    ...     random_state=42)
    >>> U, V = dict_learning_online(X, n_components=15, alpha=0.2, max_iter=20,
    ...                             batch_size=3, random_state=42, device="cpu")
    >>> U.shape, V.shape
    ((30, 15), (15, 20))
    """
    estimator = MiniBatchDictionaryLearning(
        n_components=n_components, alpha=alpha, max_iter=max_iter, n_jobs=n_jobs,
        fit_algorithm=method, batch_size=batch_size, shuffle=shuffle, dict_init=dict_init,
        random_state=random_state, transform_algorithm="lasso_" + method,
        transform_alpha=alpha, positive_code=positive_code, positive_dict=positive_dict,
        transform_max_iter=method_max_iter, verbose=verbose, callback=callback, tol=tol,
        max_no_improvement=max_no_improvement, device=device,
    ).fit(X)
    if not return_code:
        return estimator.components_
    return estimator.transform(X), estimator.components_
