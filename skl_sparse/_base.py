"""The one private base of every skl_sparse transformer.

Feature names out (``<class>0, <class>1, ...``), ``fit_transform``, float32 and
float64 preserved by ``transform``, scikit-learn's Array API dispatch (the tag, the
namespace check of a fitted model, tensors pickled to the host, ``move_estimator_to``),
``verbose`` messages, the parameters every torch-backed estimator has, and
`restore_on_error` (a failed fit changes nothing).
`_BaseSparseCoding` (dictionary estimators), `_TorchTransformer` (trained networks),
`ZCAWhitener`, `ImagePatchEncoder` and `skl_sparse.decomposition`'s classes build on it.
"""

import copy
import functools

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin, clone
from sklearn.utils.validation import validate_data

from ._array_api import (
    check_real,
    check_same_namespace,
    dispatched_namespace,
    estimator_with_converted_arrays,
    holds_arrays,
    map_arrays,
    on_host_when_pickled,
    to_torch,
)

DEVICE_CONSTRAINTS = {
    "device": [str],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class _Transformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Shared transformer behaviour; subclasses define ``_n_features_out``."""

    def _log(self, message):
        if getattr(self, "verbose", 0):
            print(f"[{type(self).__name__}] {message}", flush=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        # scikit-learn's Array API dispatch: every estimator takes the input's namespace
        # and device, and returns and stores arrays there
        tags.array_api_support = True
        return tags

    def _fitted_namespace(self, X, method, attribute="components_"):
        """``(xp, device)`` of ``X`` when it is dispatched (array-API input, dispatch on),
        else ``(None, None)``; a ValueError when ``X`` is not in the namespace and on
        the device of the fitted ``attribute``."""
        check_same_namespace(X, self, attribute=attribute, method=method)
        xp, device = dispatched_namespace(X)
        if xp is None and not isinstance(getattr(self, attribute), np.ndarray | np.generic):
            raise ValueError(
                f"{type(self).__name__} was fitted on "
                f"{type(getattr(self, attribute)).__module__} arrays under Array API "
                f"dispatch: call {method} under "
                "sklearn.config_context(array_api_dispatch=True) with arrays of that "
                "namespace and device, or move the model to numpy with "
                "sklearn.utils._array_api.move_estimator_to(estimator, numpy, None)."
            )
        return xp, device

    def _tensor_input(self, X, xp, reset):
        """``X`` validated in its namespace ``xp`` (real, float64 or float32), as a torch
        tensor on its device: the data of a method under Array API dispatch."""
        return to_torch(validate_data(self, check_real(X, xp), reset=reset,
                                      dtype=[xp.float64, xp.float32]), xp)

    def __getstate__(self):
        # tensors of a GPU come back on the CPU: the model loads where there is none
        return on_host_when_pickled(super().__getstate__())

    def __sklearn_array_api_convert__(self, converter):
        """A copy of this estimator with its fitted arrays (``name_``, lists of them, and
        the private arrays kept beside them) passed through ``converter``: what
        scikit-learn's ``move_estimator_to`` calls. A fitted estimator among them
        (``ImagePatchEncoder.patch_encoder_``) moves as a whole. Other state is copied
        as it is (the torch estimators' weights stay numpy, in a dict)."""
        new = clone(self)
        params = self.get_params(deep=False)
        for name, value in vars(self).items():
            public = name.endswith("_") and not name.startswith("_")
            if name in params:
                continue  # set by clone
            if _is_array(value) or (public and holds_arrays(value, _is_array)):
                value = map_arrays(value, converter)
            elif public and hasattr(value, "get_params"):
                value = estimator_with_converted_arrays(value, converter)
            else:
                value = copy.deepcopy(value)
            setattr(new, name, value)
        return new


def _is_array(value):
    return isinstance(value, np.ndarray | np.generic) or hasattr(value, "__dlpack__")


def restore_on_error(method):
    """Decorate a fitting method: on any error, an interrupt too, the estimator is left
    exactly as it was before the call (validation first, then one commit of new state)."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        saved = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    return guarded
