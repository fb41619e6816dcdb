"""scikit-learn's Array API dispatch (``sklearn.set_config(array_api_dispatch=True)``).

With dispatch on, an estimator that supports it computes on its input's namespace and
device (torch tensors on their device, array-api-strict arrays, ...) and returns, and
stores, arrays of that namespace. Without dispatch, or for numpy input, nothing changes:
numpy in, numpy out. This module says which case a call is in; it imports nothing of the
package.
"""

import numpy as np
import torch
from sklearn.utils._array_api import (
    _convert_to_numpy,
    _estimator_with_converted_arrays,
    _is_numpy_namespace,
    _is_xp_namespace,
    _max_precision_float_dtype,
    check_same_namespace,
    get_namespace_and_device,
)
from sklearn.utils._array_api import np_compat as numpy_namespace

# a copy of an estimator (a pipeline step by step) with its arrays converted, as
# scikit-learn's move_estimator_to makes it
estimator_with_converted_arrays = _estimator_with_converted_arrays

__all__ = ["check_real", "check_same_namespace", "dispatched_namespace",
           "estimator_with_converted_arrays", "from_torch", "holds_arrays", "host_array",
           "is_torch", "map_arrays", "max_float_dtype", "numpy_namespace",
           "on_host_when_pickled", "public_arrays_to", "to_torch"]


def dispatched_namespace(*arrays):
    """``(xp, device)`` of ``arrays`` when Array API dispatch is on and they are not numpy
    arrays; ``(None, None)`` otherwise (the numpy code path)."""
    xp, is_array_api, device = get_namespace_and_device(*arrays)
    if not is_array_api or _is_numpy_namespace(xp):
        return None, None
    return xp, device


def max_float_dtype(xp, device):
    """The widest float dtype ``xp`` offers on ``device`` (float32 on devices without
    float64)."""
    return _max_precision_float_dtype(xp, device)


def is_torch(xp):
    """Whether ``xp`` is torch's namespace (whose arrays are plain tensors)."""
    return _is_xp_namespace(xp, "torch")


def to_torch(A, xp):
    """``A``, an array of namespace ``xp``, as a torch tensor: a tensor as it is, on its
    device (no copy); an array of another namespace through numpy, on the CPU (a copy
    the computation owns)."""
    if is_torch(xp):
        return A
    return torch.from_numpy(np.array(_convert_to_numpy(A, xp), copy=True))


def from_torch(T, xp, device):
    """Tensor ``T`` as an array of ``xp`` on ``device``: for torch the tensor itself."""
    if is_torch(xp):
        return T
    return xp.asarray(T.detach().cpu().numpy(), device=device)


def holds_arrays(value, is_array):
    """Whether ``value`` is an array (``is_array(value)``) or a non-empty list of them: a
    network's layers (``coefs_``)."""
    return is_array(value) or (isinstance(value, list) and bool(value)
                               and all(map(is_array, value)))


def map_arrays(value, fn):
    """``fn`` of ``value``, or of each of its items for a list (see `holds_arrays`)."""
    return [fn(A) for A in value] if isinstance(value, list) else fn(value)


def public_arrays_to(est, xp, device):
    """Every public fitted attribute of ``est`` (``name_``) that is a numpy array, or a
    list of them (a network's layers), as arrays of ``xp`` on ``device``: scikit-learn's
    convention for a fit under dispatch. The attributes are the model's (the size of the
    dictionary or the weights), never the data's."""
    for name, value in list(vars(est).items()):
        if (name.endswith("_") and not name.startswith("_")
                and holds_arrays(value, lambda A: isinstance(A, np.ndarray))):
            setattr(est, name, map_arrays(
                value, lambda A: xp.asarray(np.array(A, copy=True), device=device)))


def on_host_when_pickled(state):
    """``state`` (an estimator's ``__dict__``) with its torch tensors, lists of them
    included, moved to the CPU, so that a model fitted on GPU tensors loads on a machine
    without one."""
    return {name: map_arrays(value, lambda T: T.cpu())
            if holds_arrays(value, torch.is_tensor) else value
            for name, value in state.items()}


def host_array(A):
    """A model-sized array of any namespace (a given dictionary, say) as numpy on the
    host; lists and numpy arrays as they are."""
    if torch.is_tensor(A):
        return A.detach().cpu().numpy()
    if isinstance(A, np.ndarray) or not hasattr(A, "__array_namespace__"):
        return A
    return _convert_to_numpy(A, A.__array_namespace__())


def check_real(X, xp):
    """``X`` itself; a ValueError for complex ``X``, which scikit-learn's validation would
    cast to real under dispatch (numpy input gets the same error there)."""
    if hasattr(X, "dtype") and xp.isdtype(X.dtype, "complex floating"):
        raise ValueError(f"Complex data not supported: X has dtype {X.dtype}.")
    return X
