"""scikit-learn's estimator checks on every public estimator, with no expected failures.

The classes of `skl_sparse.decomposition` (scikit-learn's API) are checked as scikit-learn
checks its own classes of those names: with its constructor arguments, and per check where
it has some (a `SparseCoder`'s fixed dictionary must be as wide as each check's data).
"""

import inspect

import numpy as np
import pytest
from _config import INIT_PARAMS, OPTION_VARIANTS, all_estimators, sklearn_check_params
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks


def _tested_estimators():
    for name, cls in all_estimators():
        theirs = sklearn_check_params(name)
        params = theirs[0] if theirs else INIT_PARAMS.get(name, {})
        yield cls(**params)
        for variant in OPTION_VARIANTS.get(name, []):
            yield cls(**{**params, **variant})


def _per_check(estimator, check):
    """The estimators a check runs on: scikit-learn's per-check arguments for the
    classes of `skl_sparse.decomposition`, else the estimator itself."""
    module = type(estimator).__module__
    if not module.startswith("skl_sparse.decomposition"):
        return [estimator]
    check_name = getattr(check, "__name__", None) or check.func.__name__
    per_check = sklearn_check_params("decomposition." + type(estimator).__name__)[1]
    instances = [clone(estimator).set_params(**params)
                 for params in per_check.get(check_name, [{}])]
    if check_name.startswith("check_array_api") and "dictionary" in estimator.get_params():
        # scikit-learn has no per-check dictionary for these checks (its SparseCoder does
        # not support dispatch): one as wide as their data (10 features). They want every
        # numpy array in vars(estimator) after fit in X's namespace, constructor
        # parameters included, so the fixed dictionary is given as nested lists
        atoms = np.random.RandomState(0).randn(5, 10)
        for instance in instances:
            instance.set_params(dictionary=atoms.tolist())
    return instances


def test_all_estimators_listed():
    names = {name for name, _ in all_estimators()}
    assert {"ZCAWhitener", "SparseCoder", "OnlineDictionaryLearner",
            "decomposition.SparseCoder", "decomposition.DictionaryLearning",
            "decomposition.MiniBatchDictionaryLearning"} <= names


@parametrize_with_checks(list(_tested_estimators()))
def test_sklearn_compatible_estimator(estimator, check):
    for instance in _per_check(estimator, check):
        check(instance)


@pytest.mark.parametrize("name,cls", all_estimators())
def test_parameter_constraints_match_init(name, cls):
    params = set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert set(cls._parameter_constraints) == params
