"""Input checks shared by the estimators and the coding functions: codes given to
``inverse_transform``, user-given dictionaries, values that overflow the computation's
dtype, and where NaN is looked for."""

import math

import numpy as np
import torch
from sklearn.utils import assert_all_finite, check_array
from sklearn.utils.validation import check_is_fitted

from ._device import resolve_device, to_numpy


def check_codes(est, X, n_components):
    """Validate codes given to ``inverse_transform``: fitted, 2-D, float, right width."""
    check_is_fitted(est)
    X = check_array(X, dtype=[np.float64, np.float32])
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
    cannot hold: cast silently they would become inf, then NaN codes."""
    if X.dtype != np.float64:
        return X
    peak = peak_magnitude(X)
    if peak > _FLOAT32_MAX:
        raise ValueError(
            f"{name} has values of magnitude up to {peak:.3g}, beyond "
            f"float32's range ({_FLOAT32_MAX:.3g}) in which this estimator computes; "
            f"rescale {name}."
        )
    return X


def check_dictionary(D, n_features, n_components, dtype=np.float64):
    """A validated copy of a user-given dictionary: ``n_features`` columns, and
    ``n_components`` rows unless that is None."""
    D = check_array(D, dtype=dtype, input_name="dictionary", copy=True)
    if D.shape[1] != n_features:
        raise ValueError(f"dictionary has {D.shape[1]} features but X has {n_features} features.")
    if n_components is not None and D.shape[0] != n_components:
        raise ValueError(
            f"n_components={n_components} does not match the {D.shape[0]} rows of dictionary."
        )
    return D


def finite_on_device(device):
    """Whether ``X``'s NaN and infinity are looked for on the device, in
    `check_no_overflow`'s pass after the upload, rather than by a host pass (on a GPU)."""
    return resolve_device(device).type == "cuda"


def check_no_overflow(X, D=None, dtype=None, host=None):
    """ValueError when ``X D^T``, ``D D^T`` or ``||x||^2`` would overflow X's dtype, or
    when ``X`` holds NaN or infinity (scikit-learn's message).

    ``X`` and ``D`` are arrays or tensors (``X`` may be None); ``dtype``: the numpy dtype
    of the computation (by default X's); ``host``: the host array of a tensor ``X``, to
    name its non-finite values from.
    """
    dtype = X.dtype if dtype is None else dtype
    n_features = (X if X is not None else D).shape[1]
    big = np.finfo(dtype).max / max(n_features, 1)
    for name, A in (("X", X), ("dictionary", D)):
        if A is None:
            continue
        peak = peak_magnitude(A)
        if not math.isfinite(peak):
            assert_all_finite(host if host is not None and name == "X" else to_numpy(A),
                              input_name=name)
            raise ValueError(f"Input {name} contains NaN or infinity.")
        if peak * peak > big:
            raise ValueError(
                f"{name} has values of magnitude up to {peak:.3g}: the lasso's inner products "
                f"would overflow {np.dtype(dtype)}; rescale {name}."
            )
