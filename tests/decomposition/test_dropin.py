"""`skl_sparse.decomposition` as a drop-in for scikit-learn's: the same signatures, the same
codes where the algorithm is the same, dictionaries as good, faster; what scikit-learn gets
wrong (n_nonzero_coefs beyond the dictionary) handled; a failed fit changes nothing."""

import inspect
import warnings

import numpy as np
import pytest
import sklearn.decomposition as theirs
import torch
from _config import DEVICE
from sklearn.exceptions import ConvergenceWarning

import skl_sparse.decomposition as ours

NAMES = ["DictionaryLearning", "MiniBatchDictionaryLearning", "SparseCoder", "sparse_encode",
         "dict_learning", "dict_learning_online"]


def _signature(obj):
    return inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)


@pytest.mark.parametrize("name", NAMES)
def test_signatures_are_scikit_learns_plus_device(name):
    """Names, kinds (positional or keyword-only), order and defaults; ``device`` last."""
    mine, sk = _signature(getattr(ours, name)), _signature(getattr(theirs, name))
    params = list(mine.parameters.values())
    assert params[-1].name == "device" and params[-1].default == "auto"
    expected = [(p.name, p.kind, p.default) for p in sk.parameters.values()]
    assert [(p.name, p.kind, p.default) for p in params[:-1]] == expected


@pytest.fixture
def problem(rng):
    D = rng.randn(40, 16)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.randn(150, 16), D


@pytest.mark.parametrize("algorithm, kwargs", [
    ("omp", {}), ("omp", {"n_nonzero_coefs": 5}), ("lars", {"n_nonzero_coefs": 4}),
    ("threshold", {"alpha": 0.4}), ("threshold", {"alpha": 0.4, "positive": True}),
])
def test_sparse_encode_gives_scikit_learns_codes(problem, algorithm, kwargs):
    X, D = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = theirs.sparse_encode(X, D, algorithm=algorithm, **kwargs)
    codes = ours.sparse_encode(X, D, algorithm=algorithm, device=DEVICE, **kwargs)
    np.testing.assert_array_equal(codes != 0, ref != 0)
    np.testing.assert_allclose(codes, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["lasso_lars", "lasso_cd"])
def test_lasso_codes_reach_scikit_learns_objective(problem, algorithm):
    X, D = problem
    ref = theirs.sparse_encode(X, D, algorithm="lasso_lars", alpha=0.2)
    codes = ours.sparse_encode(X, D, algorithm=algorithm, alpha=0.2, device=DEVICE)

    def objective(H):
        return 0.5 * ((X - H @ D) ** 2).sum(1) + 0.2 * np.abs(H).sum(1)

    np.testing.assert_allclose(objective(codes), objective(ref), rtol=1e-6)


def test_sparse_coder_needs_no_fit_and_matches(problem):
    X, D = problem
    coder = ours.SparseCoder(D, device=DEVICE)  # the dictionary first, as scikit-learn's
    np.testing.assert_allclose(coder.transform(X), theirs.SparseCoder(D).transform(X),
                               rtol=1e-9, atol=1e-12)
    assert coder.fit(X).n_components_ == 40


def test_n_nonzero_coefs_beyond_the_dictionary_is_clipped(rng):
    """scikit-learn raises (its issue #33454) where we clip, with a warning naming the
    parameter."""
    D = rng.randn(3, 8)
    X = rng.randn(10, 8)
    with pytest.warns(UserWarning, match="n_nonzero_coefs=5 .* clipped to 3"):
        codes = ours.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=5, device=DEVICE)
    assert np.isfinite(codes).all()
    coder = ours.SparseCoder(D, transform_n_nonzero_coefs=6, device=DEVICE)
    with pytest.warns(UserWarning, match="transform_n_nonzero_coefs=6"):
        coder.transform(X)


def _objective(X, D, alpha):
    H = theirs.sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha)
    return (0.5 * ((X - H @ D) ** 2).sum(1) + alpha * np.abs(H).sum(1)).mean()


@pytest.mark.parametrize("name, params", [
    ("DictionaryLearning", dict(max_iter=15, transform_algorithm="lasso_lars")),
    ("MiniBatchDictionaryLearning", dict(batch_size=128, max_iter=3)),
])
def test_learned_dictionaries_are_as_good_as_scikit_learns(whitened_patches, name, params):
    """The held-out lasso objective of the learned atoms within 1% of scikit-learn's."""
    X, X_test = whitened_patches[:1200], whitened_patches[1200:1600]
    params = dict(n_components=32, alpha=0.1, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mine = getattr(ours, name)(device=DEVICE, **params).fit(X)
        ref = getattr(theirs, name)(**params).fit(X)
    assert _objective(X_test, mine.components_, 0.1) <= 1.01 * _objective(
        X_test, ref.components_, 0.1)
    fitted = {a for a in vars(ref) if a.endswith("_") and not a.startswith("_")}
    assert fitted <= set(vars(mine))


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("name", ["DictionaryLearning", "MiniBatchDictionaryLearning"])
def test_interrupted_fit_changes_nothing(name, method, rng, monkeypatch):
    import skl_sparse.decomposition._dict_learning as module

    cls = getattr(ours, name)
    if not hasattr(cls, method):
        pytest.skip(f"{name} has no {method}")
    X = rng.randn(40, 6)
    est = cls(4, max_iter=3, device=DEVICE, random_state=0).fit(X)
    before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(est).items()}
    rng_state = est._random_state.get_state()[1].copy() if hasattr(est, "_random_state") else 0
    calls = []

    def fail(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "_update_dictionary", fail)
    with pytest.raises(KeyboardInterrupt):
        getattr(est, method)(X + 1.0)
    assert calls
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(vars(est)[key], value, err_msg=key)
    if hasattr(est, "_random_state"):
        np.testing.assert_array_equal(est._random_state.get_state()[1], rng_state)


@pytest.mark.parametrize("make", [
    lambda: ours.SparseCoder(np.eye(4), transform_algorithm="omp", positive_code=True),
    lambda: ours.DictionaryLearning(3, positive_code=True),
    lambda: ours.MiniBatchDictionaryLearning(3, positive_code=True),
])
def test_scikit_learns_errors(make, rng):
    with pytest.raises(ValueError, match="Positive constraint not supported for '(omp|lars)'"):
        make().fit_transform(rng.randn(10, 4))


def test_device_is_validated_by_name(rng):
    with pytest.raises(ValueError, match="device"):
        ours.SparseCoder(np.eye(4), device="tpu").transform(rng.randn(5, 4))


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_lasso_cd_is_the_iterative_lasso_on_every_device(device):
    # its max_iter bounds iterations, as scikit-learn's bounds its sweeps: the homotopy
    # that a GPU's "auto" runs first would converge within any max_iter
    from skl_sparse.decomposition._encode import solver_of

    assert solver_of("lasso_cd", torch.device(device)) == "fista"
    assert solver_of("lasso_lars", torch.device(device)) == "lars"
