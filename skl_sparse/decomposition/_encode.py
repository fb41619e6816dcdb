"""scikit-learn's `sparse_encode`, computed by our coding layer
(`skl_sparse.sparse_coding._encode`): its algorithm names mapped to our solvers, its
defaults resolved as scikit-learn resolves them.
"""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._array_api import check_real, dispatched_namespace, from_torch, host_array, to_torch
from .._device import compute_device
from ..sparse_coding._encode import (
    TRANSFORM_BATCH,
    encode_numpy,
    encode_tensors,
    resolve_n_nonzero_coefs,
)

__all__ = ["ALGORITHMS", "sparse_encode"]

ALGORITHMS = ("lasso_lars", "lasso_cd", "lars", "omp", "threshold")


def solver_of(algorithm, device):
    """Our solver for scikit-learn's ``algorithm``: "lasso_lars" is our lasso homotopy
    ("lars"), "lasso_cd" our iterative lasso ("fista", on every device, so that
    ``max_iter`` bounds its iterations as it bounds scikit-learn's sweeps), "lars" least
    angle regression ("lar"), "omp" and "threshold" themselves."""
    return {"lasso_lars": "lars", "lasso_cd": "fista", "lars": "lar"}.get(algorithm,
                                                                          algorithm)


def check_positive_coding(method, positive):
    """scikit-learn's error for non-negative codes of the greedy algorithms (and of its
    ``fit_algorithm="lars"``, whose check it shares)."""
    if positive and method in ("omp", "lars"):
        raise ValueError(f"Positive constraint not supported for '{method}' coding method.")


def coding_options(algorithm, *, n_nonzero_coefs, alpha, n_components, n_features,
                   max_iter, positive, device, name="n_nonzero_coefs"):
    """The keyword arguments of `encode_numpy` (and ``alpha``) for scikit-learn's
    options: the greedy algorithms take ``n_nonzero_coefs`` (None: 10% of
    ``n_features``; clipped with a warning to ``min(n_components, n_features)``, where
    scikit-learn fails) and ignore ``alpha``, as scikit-learn 1.9 computes them; the
    others take ``alpha`` (None: 1)."""
    options = {"solver": solver_of(algorithm, device), "positive": positive,
               "max_iter": max(int(max_iter), 1), "tol": 1e-6, "alpha": 1.0}
    if algorithm in ("lars", "omp"):
        options["n_nonzero_coefs"] = resolve_n_nonzero_coefs(
            n_nonzero_coefs, n_components, n_features, name=name)
    elif alpha is not None:
        options["alpha"] = float(alpha)
    return options


@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "gram": ["array-like", None],
        "cov": ["array-like", None],
        "algorithm": [StrOptions(set(ALGORITHMS))],
        "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
        "copy_cov": ["boolean"],
        "init": ["array-like", None],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral, None],
        "check_input": ["boolean"],
        "verbose": ["verbose"],
        "positive": ["boolean"],
        "device": [str],
    },
    prefer_skip_nested_validation=True,
)
def sparse_encode(
    X,
    dictionary,
    *,
    gram=None,
    cov=None,
    algorithm="lasso_lars",
    n_nonzero_coefs=None,
    alpha=None,
    copy_cov=True,
    init=None,
    max_iter=1000,
    n_jobs=None,
    check_input=True,
    verbose=0,
    positive=False,
    device="auto",
):
    """Sparse coding, as :func:`sklearn.decomposition.sparse_encode`, on our engines.

    Each row of the result is the solution of a sparse coding problem: find ``code``
    such that ``X ~= code @ dictionary``. The signature, defaults and results are
    scikit-learn's; ``device`` is ours.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data matrix.
    dictionary : array-like of shape (n_components, n_features)
        The atoms, as rows (normally of unit norm).
    gram : array-like of shape (n_components, n_components), default=None
        Accepted for compatibility; the engines compute ``dictionary @ dictionary.T``
        themselves, on the device.
    cov : array-like of shape (n_components, n_samples), default=None
        Accepted for compatibility; the engines compute ``dictionary @ X.T``.
    algorithm : {"lasso_lars", "lasso_cd", "lars", "omp", "threshold"}, \
            default="lasso_lars"
        "lasso_lars": the exact lasso homotopy (our ``solver="lars"``); "lasso_cd":
        the lasso by proximal gradient (``solver="fista"``, ``max_iter`` iterations);
        "lars": least angle regression stopped at ``n_nonzero_coefs`` (``"lar"``);
        "omp": orthogonal matching pursuit; "threshold": soft-thresholded
        correlations ``dictionary @ x``.
    n_nonzero_coefs : int, default=None
        Atoms per code for "lars" and "omp"; None: 10% of ``n_features`` (at least
        one). More than ``min(n_components, n_features)`` is clipped to it, with a
        warning.
    alpha : float, default=None
        The :math:`\\ell_1` weight of "lasso_lars" and "lasso_cd", the threshold of
        "threshold"; None: 1. Unused by "omp" and "lars", as in scikit-learn 1.9 (whose
        docstring says "omp" reads it as a tolerance; its code does not: our
        `skl_sparse.sparse_encode` has ``residual_tol`` for that).
    copy_cov : bool, default=True
        Accepted for compatibility (``cov`` is never overwritten).
    init : ndarray of shape (n_samples, n_components), default=None
        Warm start of "lasso_cd".
    max_iter : int, default=1000
        Iterations of "lasso_cd" (the homotopy of "lasso_lars" needs none).
    n_jobs : int, default=None
        Accepted for compatibility: our CPU threads follow ``torch.set_num_threads``.
    check_input : bool, default=True
        Accepted for compatibility: the input is always checked.
    verbose : int, default=0
        Accepted for compatibility.
    positive : bool, default=False
        Non-negative codes ("lasso_lars", "lasso_cd", "threshold").
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Under scikit-learn's Array
        API dispatch the computation runs on X's device instead, and the codes come back
        in X's namespace.

    Returns
    -------
    code : ndarray of shape (n_samples, n_components)
        The sparse codes, in the float dtype of ``X``.

    See Also
    --------
    skl_sparse.sparse_encode : our own signature, with "ols" and ``residual_tol``.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse.decomposition import sparse_encode
    >>> X = np.array([[-1, -1, -1], [0, 0, 3]])
    >>> dictionary = np.array(
    ...     [[0, 1, 0],
    ...      [-1, -1, 2],
    ...      [1, 1, 1],
    ...      [0, 1, 1],
    ...      [0, 2, 1]],
    ...    dtype=np.float64
    ... )
    >>> sparse_encode(X, dictionary, alpha=1e-10, device="cpu").round(6) + 0.0
    array([[ 0.,  0., -1.,  0.,  0.],
           [ 0.,  1.,  1.,  0.,  0.]])
    """
    xp, xp_device = dispatched_namespace(X)
    if xp is None:
        dictionary = check_array(dictionary, dtype=[np.float64, np.float32])
        X = check_array(X, dtype=[np.float64, np.float32])
    else:  # Array API dispatch: computed on X's device, returned in X's namespace
        X = to_torch(check_array(check_real(X, xp), dtype=[xp.float64, xp.float32]), xp)
        dictionary = dictionary_tensor(dictionary, X)
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            "Dictionary and X have different numbers of features:"
            f"dictionary.shape: {tuple(dictionary.shape)} X.shape{tuple(X.shape)}"
        )
    check_positive_coding(algorithm, positive)
    code = encode_dispatch(X, dictionary, algorithm=algorithm,
                           n_nonzero_coefs=n_nonzero_coefs, alpha=alpha, init=init,
                           max_iter=max_iter, positive=positive, device=device)
    return code if xp is None else from_torch(code, xp, xp_device)


def dictionary_tensor(dictionary, X, name="dictionary"):
    """A dictionary of any namespace (numpy, a tensor, ...) as a tensor on tensor
    ``X``'s device and in its dtype: a dictionary is the model's size, so one given on
    the host goes where the data is."""
    if not torch.is_tensor(dictionary):
        dictionary = torch.from_numpy(check_array(host_array(dictionary), input_name=name,
                                                  dtype=[np.float64, np.float32]))
    if dictionary.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got shape {tuple(dictionary.shape)}.")
    return dictionary.to(device=X.device, dtype=X.dtype)


def encode_dispatch(X, dictionary, *, algorithm, n_nonzero_coefs, alpha, max_iter, positive,
                    device, init=None, name="n_nonzero_coefs"):
    """`encode_numpy` with scikit-learn's options (validated ``X`` and ``dictionary``);
    for a tensor ``X`` and ``dictionary`` (Array API dispatch) `encode_tensors`, on X's
    device (``device`` is not used), returning a tensor there."""
    device = compute_device(X, device)
    options = coding_options(algorithm, n_nonzero_coefs=n_nonzero_coefs, alpha=alpha,
                             n_components=dictionary.shape[0], n_features=X.shape[1],
                             max_iter=max_iter, positive=positive, device=device, name=name)
    alpha = options.pop("alpha")
    if init is not None and options["solver"] in ("fista", "auto"):
        if torch.is_tensor(X):
            init = dictionary_tensor(init, X, name="init")
        else:
            init = check_array(init, dtype=X.dtype, input_name="init")
        if tuple(init.shape) != (X.shape[0], dictionary.shape[0]):
            raise ValueError(f"init has shape {tuple(init.shape)}, expected "
                             f"{(X.shape[0], dictionary.shape[0])}.")
    else:
        init = None  # the other engines start from zero
    if torch.is_tensor(X):
        return encode_tensors(X, dictionary, alpha, **options, batch_size=TRANSFORM_BATCH,
                              init=init)
    return encode_numpy(X, dictionary.astype(X.dtype, copy=False), alpha, **options,
                        batch_size=TRANSFORM_BATCH, device=device, init=init)
