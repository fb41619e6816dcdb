"""scikit-learn's Array API dispatch (``sklearn.set_config(array_api_dispatch=True)``).

With dispatch on, an estimator that supports it computes on its input's namespace and
device (torch tensors on their device, array-api-strict arrays, ...) and returns, and
stores, arrays of that namespace. Without dispatch, or for numpy input, nothing changes:
numpy in, numpy out. This module says which case a call is in; it imports nothing of the
package.
"""

from sklearn.utils._array_api import (
    _is_numpy_namespace,
    _max_precision_float_dtype,
    check_same_namespace,
    get_namespace_and_device,
)
from sklearn.utils._array_api import np_compat as numpy_namespace

__all__ = ["check_same_namespace", "dispatched_namespace", "max_float_dtype",
           "numpy_namespace"]


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
