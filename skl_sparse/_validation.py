"""Input checks shared by the estimators and the coding functions: codes given to
``inverse_transform``, user-given dictionaries, values that overflow the computation's
dtype, and where NaN is looked for; scikit-learn's names for our parameters
(`check_foreign_names`), and warnings that point at the user's line (`warn_user`)."""

import functools
import inspect
import math
import os
import sys
import warnings

import numpy as np
import sklearn
import torch
from sklearn.utils import assert_all_finite, check_array
from sklearn.utils.validation import check_is_fitted

from ._array_api import host_array
from ._device import numpy_dtype, resolve_device, to_numpy

# frames in these folders are ours or scikit-learn's wrappers (validation, fit context)
_INTERNAL = tuple(os.path.dirname(m.__file__) + os.sep
                  for m in (sys.modules[__package__], sklearn))

_SOLVER_NAMES = ('solver (scikit-learn\'s "omp" is "omp", "lars" is "lar", "lasso_lars" '
                 'is "lars", "lasso_cd" is "auto", "threshold" is "threshold")')
# scikit-learn's names of coding options, and what they are here
SKLEARN_EQUIVALENTS = {
    "algorithm": _SOLVER_NAMES,
    "transform_algorithm": _SOLVER_NAMES,
    "fit_algorithm": "solver (one solver codes for fit and transform)",
    "transform_n_nonzero_coefs": "n_nonzero_coefs",
    "transform_alpha": ("alpha (and, where scikit-learn's OMP reads it as a tolerance, "
                        "residual_tol)"),
    "positive_code": "positive",
    "method": "solver",
    "method_max_iter": "max_iter (transform_max_iter on an estimator)",
    "n_jobs": "torch.set_num_threads (our CPU threads follow torch's)",
}


def warn_user(message, category):
    """``warnings.warn`` attributed to the first caller outside skl_sparse and
    scikit-learn's wrappers: the user's line, however deep the warning is raised."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


def check_foreign_names(owner, kwargs, accepted):
    """Raise a ``TypeError`` for a keyword of ``kwargs`` that ``owner`` (a function or
    class name) does not accept, naming our equivalent when it is scikit-learn's."""
    for name in kwargs:
        if name in accepted:
            continue
        hint = SKLEARN_EQUIVALENTS.get(name)
        where = ("; skl_sparse.decomposition takes scikit-learn's names, and the user "
                 "guide's 'Coming from scikit-learn or SPAMS' maps every option")
        if hint is None:
            raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}{where}.")
        raise TypeError(f"{owner}() got an unexpected keyword argument {name!r}: "
                        f"scikit-learn's {name!r} is {hint} here{where}.")


def suggests_names(func):
    """Decorate a function or ``__init__`` so that a keyword it does not take raises
    `check_foreign_names`'s error (the signature, for ``get_params``, is unchanged)."""
    accepted = set(inspect.signature(func).parameters)
    owner = func.__qualname__.removesuffix(".__init__")

    @functools.wraps(func)
    def checked(*args, **kwargs):
        check_foreign_names(owner, kwargs, accepted)
        return func(*args, **kwargs)

    return checked


def check_codes(est, X, n_components, xp=None):
    """Validate codes given to ``inverse_transform``: fitted, 2-D, float, right width;
    ``xp``: their namespace under Array API dispatch."""
    check_is_fitted(est)
    X = check_array(X, dtype=[np.float64, np.float32] if xp is None
                    else [xp.float64, xp.float32])
    if X.shape[1] != n_components:
        raise ValueError(
            f"X has {X.shape[1]} columns but {type(est).__name__} has "
            f"n_components={n_components}."
        )
    return X


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def peak_magnitude(A):
    """``max |A|`` of an array or tensor without allocating ``|A|`` (0 when empty); a
    tensor's is read back once."""
    if torch.is_tensor(A):
        if not A.numel():
            return 0.0
        low, high = torch.aminmax(A)
        return float(torch.maximum(high, -low))
    return max(float(A.max()), -float(A.min())) if A.size else 0.0


def check_float32_range(X, name="X"):
    """ValueError for finite float64 values that float32 (the torch estimators' dtype)
    cannot hold: cast silently they would become inf, then NaN codes. ``X``: an array or
    a tensor."""
    if numpy_dtype(X.dtype) != np.float64:
        return X
    peak = peak_magnitude(X)
    if peak > _FLOAT32_MAX:
        raise ValueError(
            f"{name} has values of magnitude up to {peak:.3g}, beyond "
            f"float32's range ({_FLOAT32_MAX:.3g}) in which this estimator computes; "
            f"rescale {name}."
        )
    return X


def check_dictionary(D, n_features, n_components, dtype=np.float64, name="dictionary"):
    """A validated copy of a user-given dictionary (the parameter ``name``): 2-D, at least
    one atom, ``n_features`` columns, ``n_components`` rows unless that is None, and
    inner products that fit in ``dtype`` (numpy's or torch's). Every error names the
    parameter, never X. A tensor or another namespace's array is copied to the host: a
    dictionary is the model's size."""
    D, dtype = host_array(D), numpy_dtype(dtype)
    shape = np.shape(D)
    if len(shape) != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_components, n_features); "
                         f"got an array of shape {shape}.")
    if shape[0] == 0:
        raise ValueError(f"{name} has no atoms (shape {shape}): it needs at least one row.")
    D = check_array(D, dtype=dtype, input_name=name, copy=True)
    if D.shape[1] != n_features:
        raise ValueError(f"{name} has {D.shape[1]} features but X has {n_features} features.")
    if n_components is not None and D.shape[0] != n_components:
        raise ValueError(
            f"n_components={n_components} does not match the {D.shape[0]} rows of {name}."
        )
    check_no_overflow(None, D, dtype=D.dtype, d_name=name)
    return D


def finite_on_device(device):
    """Whether ``X``'s NaN and infinity are looked for on the device, in
    `check_no_overflow`'s pass after the upload, rather than by a host pass (on a GPU)."""
    return resolve_device(device).type == "cuda"


def check_no_overflow(X, D=None, dtype=None, host=None, d_name="dictionary"):
    """ValueError when ``X D^T``, ``D D^T`` or ``||x||^2`` would overflow X's dtype, or
    when ``X`` holds NaN or infinity (scikit-learn's message).

    ``X`` and ``D`` are arrays or tensors (``X`` may be None); ``dtype``: the numpy dtype
    of the computation (by default X's); ``host``: the host array of a tensor ``X``, to
    name its non-finite values from; ``d_name``: the parameter ``D`` came from.
    """
    dtype = numpy_dtype(X.dtype if dtype is None else dtype)
    n_features = (X if X is not None else D).shape[1]
    big = np.finfo(dtype).max / max(n_features, 1)
    for name, A in (("X", X), (d_name, D)):
        if A is None:
            continue
        peak = peak_magnitude(A)
        if not math.isfinite(peak):
            if host is not None and A is X:
                A = host
            assert_all_finite(to_numpy(A) if torch.is_tensor(A) else A, input_name=name)
            raise ValueError(f"Input {name} contains NaN or infinity.")
        if peak * peak > big:
            raise ValueError(
                f"{name} has values of magnitude up to {peak:.3g}: the lasso's inner products "
                f"would overflow {np.dtype(dtype)}; rescale {name}."
            )
