"""scikit-learn's estimator checks on every public estimator, with no expected failures."""

import inspect

import pytest
from _config import INIT_PARAMS, OPTION_VARIANTS, all_estimators
from sklearn.utils.estimator_checks import parametrize_with_checks


def _tested_estimators():
    for name, cls in all_estimators():
        yield cls(**INIT_PARAMS.get(name, {}))
        for variant in OPTION_VARIANTS.get(name, []):
            yield cls(**{**INIT_PARAMS.get(name, {}), **variant})


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
