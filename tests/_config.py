"""Test settings: the device (SKL_SPARSE_TEST_DEVICE=cuda runs the device-dependent tests on a
GPU) and the one table of fast constructor arguments used by the common checks."""

import dataclasses
import inspect
import os

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.preprocessing import FunctionTransformer

import skl_sparse
import skl_sparse.decomposition

DEVICE = os.environ.get("SKL_SPARSE_TEST_DEVICE", "cpu")
# where the Array API dispatch tests put their tensors
TENSOR_DEVICE = "cuda" if DEVICE.startswith("cuda") else "cpu"

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
    # scikit-learn's API (skl_sparse.decomposition): the common checks take scikit-learn's
    # own test parameters instead (`sklearn_check_params`); these are for the 9-feature data
    # of the other tests
    "decomposition.SparseCoder": {
        "dictionary": np.random.RandomState(0).randn(5, 9), "device": "cpu"},
    "decomposition.DictionaryLearning": {
        "n_components": 5, "max_iter": 20, "transform_algorithm": "lasso_lars",
        "device": "cpu", "random_state": 0},
    "decomposition.MiniBatchDictionaryLearning": {
        "n_components": 5, "batch_size": 10, "max_iter": 5, "device": "cpu", "random_state": 0},
}

# Options that change what an estimator computes, each checked as its own estimator by
# the common checks (with the fast arguments above)
OPTION_VARIANTS = {
    "SparseCoder": [
        {"solver": "omp", "n_nonzero_coefs": 2, "dict_update": "ksvd"},
        {"solver": "ols", "residual_tol": 0.5},
        {"solver": "lar", "n_nonzero_coefs": 2},
        {"solver": "threshold", "alpha": 0.1, "dict_update": "pgd"},
        {"split_sign": True, "positive_dict": True},
    ],
    "OnlineDictionaryLearner": [
        {"solver": "omp", "n_nonzero_coefs": 2},
        {"solver": "ols"},
        {"solver": "threshold", "alpha": 0.1},
        {"split_sign": True, "positive_dict": True},
    ],
    "decomposition.SparseCoder": [
        {"transform_algorithm": "lars", "transform_n_nonzero_coefs": 2},
        {"transform_algorithm": "lasso_cd", "split_sign": True},
        {"transform_algorithm": "threshold", "positive_code": True},
    ],
    "decomposition.DictionaryLearning": [
        {"fit_algorithm": "cd", "transform_algorithm": "lasso_cd", "positive_dict": True},
    ],
    "decomposition.MiniBatchDictionaryLearning": [
        {"transform_algorithm": "omp"},
        {"fit_algorithm": "cd", "transform_algorithm": "threshold", "split_sign": True,
         "positive_dict": True},
    ],
}


def sklearn_check_params(name):
    """For a class of `skl_sparse.decomposition`: scikit-learn's own constructor arguments
    for the common checks of its class of that name, and those per check (read from the
    installed scikit-learn), with ``device="cpu"``; None for our other classes."""
    if not name.startswith("decomposition."):
        return None
    import sklearn.decomposition
    from sklearn.utils._test_common.instance_generator import (
        INIT_PARAMS as SKLEARN_INIT,
    )
    from sklearn.utils._test_common.instance_generator import PER_ESTIMATOR_CHECK_PARAMS

    theirs = getattr(sklearn.decomposition, name.partition(".")[2])
    per_check = {check: [params] if isinstance(params, dict) else list(params)
                 for check, params in PER_ESTIMATOR_CHECK_PARAMS.get(theirs, {}).items()}
    return {**SKLEARN_INIT.get(theirs, {}), "device": "cpu"}, per_check


def gpu_policy_on_cpu(**fields):
    """A `config_context` in which the CPU codes with the GPU's lasso policy, ``fields``
    changed: the GPU's code paths run here. The CPU tail is off unless ``fields`` says
    otherwise (on the CPU it would hand every row to the homotopy at once)."""
    gpu = skl_sparse.get_config()["gpu_lasso_policy"]
    return skl_sparse.config_context(
        cpu_lasso_policy=dataclasses.replace(gpu, **{"cpu_tail": 0, **fields}))


def gpu_steps_on_cpu(monkeypatch):
    """Force the learners' mini-batch steps meant for a GPU (budgeted codes, no host
    synchronisation) on the CPU."""
    import skl_sparse._solvers as solvers

    monkeypatch.setattr(solvers, "sync_free", lambda device, solver: True)


def all_estimators():
    """Every public estimator class of the package, so new ones are covered automatically:
    ``(name, class)``, the classes of `skl_sparse.decomposition` named
    ``"decomposition.<class>"``."""
    found = []
    for prefix, module in (("", skl_sparse), ("decomposition.", skl_sparse.decomposition)):
        found += [(prefix + name, obj) for name in module.__all__
                  if inspect.isclass(obj := getattr(module, name))
                  and issubclass(obj, BaseEstimator)]
    return sorted(found)
