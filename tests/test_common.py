"""scikit-learn's estimator checks on every public estimator, with no expected failures."""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

import skl_sparse

# Fast constructor arguments; every estimator must also pass with its defaults
# in the other tests.
_FAST_NET = {"n_components": 6, "max_iter": 3, "batch_size": 16, "device": "cpu",
             "random_state": 0}
INIT_PARAMS = {
    "ImagePatchEncoder": {"patch_encoder": FunctionTransformer(), "patch_size": (1, 1),
                          "n_fit_patches": 30, "normalize_patches": False,
                          "random_state": 0},
    "Autoencoder": _FAST_NET,
    "SparseAutoencoder": _FAST_NET,
    "KSparseAutoencoder": {**_FAST_NET, "k": 2},
    "DenoisingAutoencoder": _FAST_NET,
    "ContractiveAutoencoder": _FAST_NET,
    "PSDEncoder": {**_FAST_NET, "alpha": 0.1},
    "LISTAEncoder": {"n_layers": 2, "n_components": 6, "max_iter": 3, "batch_size": 16,
                     "device": "cpu", "random_state": 0},
    "SparseCoder": {"n_components": 5, "max_iter": 5, "device": "cpu", "random_state": 0},
    "GaborDictionaryLearner": {
        "n_components": 5, "max_iter": 2, "batch_size": 16, "device": "cpu", "random_state": 0
    },
    "OnlineDictionaryLearner": {
        "n_components": 5, "max_iter": 2, "batch_size": 16, "device": "cpu", "random_state": 0
    },
}


def all_estimators():
    """Every public estimator class of the package, so new ones are covered automatically."""
    return sorted(
        (name, obj)
        for name in skl_sparse.__all__
        if inspect.isclass(obj := getattr(skl_sparse, name)) and issubclass(obj, BaseEstimator)
    )


def _tested_estimators():
    for name, cls in all_estimators():
        yield cls(**INIT_PARAMS.get(name, {}))


def test_all_estimators_listed():
    names = {name for name, _ in all_estimators()}
    assert {"ZCAWhitener", "SparseCoder", "OnlineDictionaryLearner"} <= names


@parametrize_with_checks(list(_tested_estimators()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name,cls", all_estimators())
def test_parameter_constraints_match_init(name, cls):
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(cls._parameter_constraints) == params
