"""The one private base of every skl_sparse transformer.

Feature names out (``<class>0, <class>1, ...``), ``fit_transform``, float32 and
float64 preserved by ``transform``, ``verbose`` messages, and the parameters every
torch-backed estimator has. `_BaseSparseCoding` (dictionary estimators),
`_TorchTransformer` (trained networks), `ZCAWhitener` and `ImagePatchEncoder` build on it.
"""

from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

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
        return tags
