"""scikit-learn 1.9's ``decomposition/tests/test_dict_learning.py``, ported to our own API.

scikit-learn's file itself runs against `skl_sparse.decomposition` (its API) in
``tests/decomposition/test_sklearn_suite.py``; this port checks the same properties of our
native estimators. Mapping: ``sparse_encode(algorithm=...)`` -> ``sparse_encode(solver=...)``;
``SparseCoder(dictionary)`` -> ``SparseCoder(dictionary=...)``; ``DictionaryLearning`` ->
``SparseCoder(n_components)``; ``MiniBatchDictionaryLearning`` -> ``OnlineDictionaryLearner``.
Data and sizes are scikit-learn's (``X``: 10 x 8 gaussian, seed 0). The lasso cases are
ported here; the ℓ0, thresholding, ``split_sign`` and ``positive_dict`` cases of our API
are in ``test_l0_codes.py``.

Cases that do not apply to the native API, and why:

* ``n_jobs``/joblib memmapping (``test_dict_learning_reconstruction_parallel``,
  ``test_sparse_coder_parallel_mmap``, ``test_cd_work_on_joblib_memmapped_data``): we use
  torch threads, no joblib; read-only memmaps are covered by the common checks
  (``check_readonly_memmap_input``, and ``test_sparse_coder_common_transformer`` below);
* the private ``_update_dict`` and the function ``dict_learning(_online)`` signatures
  (``test_update_dict``, ``test_max_iter`` on ``dict_learning``, the verbosity test of
  ``dict_learning_online``): our dictionary updates are tested in `test_gpu_path` and
  `test_sparse_coding`; ``verbose`` output in `test_autoencoders`/`test_sparse_coding`;
* ``max_iter=0`` (``test_dict_learning_online_initialization``): ``max_iter >= 1`` here, and
  ``dict_init`` rows are normalised (unit-norm atoms); ported as the normalised init.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_almost_equal, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array
from sklearn.utils.estimator_checks import (
    check_transformer_data_not_an_array,
    check_transformer_general,
    check_transformers_unfitted,
)

from skl_sparse import OnlineDictionaryLearner, SparseCoder, sparse_encode

rng_global = np.random.RandomState(0)
n_samples, n_features = 10, 8
X = rng_global.randn(n_samples, n_features)
SOLVERS = ("lars", "fista")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _random_dictionary(n_components, seed=0):
    V = np.random.RandomState(seed).randn(n_components, n_features)
    return V / np.sum(V**2, axis=1)[:, np.newaxis]


def test_dict_learning_shapes():
    dico = SparseCoder(5, random_state=0, device="cpu").fit(X)
    assert dico.components_.shape == (5, n_features)
    dico = SparseCoder(1, random_state=0, device="cpu").fit(X)
    assert dico.components_.shape == (1, n_features)
    assert dico.transform(X).shape == (X.shape[0], 1)


def test_dict_learning_overcomplete():
    dico = SparseCoder(12, random_state=0, device="cpu").fit(X)
    assert dico.components_.shape == (12, n_features)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("positive_code", [False, True])
def test_dict_learning_code_positivity(solver, positive_code):
    dico = SparseCoder(5, solver=solver, positive=positive_code, random_state=0,
                       device="cpu").fit(X)
    code = dico.transform(X)
    if positive_code:
        assert (code >= 0).all()
    else:
        assert (code < 0).any()


@pytest.mark.parametrize("solver", SOLVERS)
def test_dict_learning_reconstruction(solver):
    dico = SparseCoder(12, alpha=0.001, solver=solver, random_state=0, device="cpu")
    code = dico.fit(X).transform(X)
    assert_array_almost_equal(np.dot(code, dico.components_), X, decimal=2)
    assert_array_almost_equal(dico.inverse_transform(code), X, decimal=2)
    with pytest.raises(ValueError, match="11 columns"):
        dico.inverse_transform(code[:, :-1])


def test_dict_learning_lassocd_readonly_data():
    X_read_only = X.copy()
    X_read_only.setflags(write=False)
    dico = SparseCoder(12, alpha=0.001, random_state=0, device="cpu")
    code = dico.fit(X_read_only).transform(X_read_only)
    assert_array_almost_equal(np.dot(code, dico.components_), X_read_only, decimal=2)


def test_dict_learning_online_shapes():
    dico = OnlineDictionaryLearner(8, batch_size=4, max_iter=10, random_state=0,
                                   device="cpu").fit(X)
    assert dico.components_.shape == (8, n_features)
    assert dico.transform(X).shape == (n_samples, 8)
    assert np.sum((dico.transform(X) @ dico.components_ - X) ** 2) < np.sum(X**2)


@pytest.mark.parametrize("positive_code", [False, True])
def test_minibatch_dictionary_learning_code_positivity(positive_code):
    dico = OnlineDictionaryLearner(8, batch_size=4, max_iter=10, positive=positive_code,
                                   random_state=0, device="cpu").fit(X)
    code = dico.transform(X)
    if positive_code:
        assert (code >= 0).all()
    else:
        assert (code < 0).any()


def test_dict_learning_online_estimator_shapes():
    dico = OnlineDictionaryLearner(5, batch_size=4, max_iter=5, random_state=0,
                                   device="cpu").fit(X)
    assert dico.components_.shape == (5, n_features)


def test_dict_learning_online_overcomplete():
    dico = OnlineDictionaryLearner(12, batch_size=4, max_iter=5, random_state=0,
                                   device="cpu").fit(X)
    assert dico.components_.shape == (12, n_features)


def test_dict_learning_online_normalised_initialization():
    V = np.random.RandomState(0).randn(12, n_features)
    dico = OnlineDictionaryLearner(12, batch_size=4, max_iter=1, dict_init=V,
                                   random_state=0, device="cpu")
    # before any step the dictionary is dict_init with unit-norm rows
    state = dico._init_state(X, __import__("torch").device("cpu"), np.random.RandomState(0))
    assert_allclose(state["D"].numpy(), V / np.linalg.norm(V, axis=1, keepdims=True))


def test_dict_learning_online_readonly_initialization():
    V = np.random.RandomState(0).randn(12, n_features)
    V.setflags(write=False)
    OnlineDictionaryLearner(12, batch_size=4, max_iter=1, dict_init=V, random_state=0,
                            shuffle=False, device="cpu").fit(X)


def test_dict_learning_online_partial_fit():
    V = _random_dictionary(12)
    dict1 = OnlineDictionaryLearner(12, max_iter=10, batch_size=1, alpha=1, shuffle=False,
                                    dict_init=V, tol=0, random_state=0,
                                    device="cpu").fit(X)
    dict2 = OnlineDictionaryLearner(12, batch_size=1, alpha=1, dict_init=V, random_state=0,
                                    device="cpu")
    for _ in range(10):
        for sample in X:
            dict2.partial_fit(sample[np.newaxis, :])
    assert not np.all(sparse_encode(X, dict1.components_, alpha=1, device="cpu") == 0)
    assert_array_almost_equal(dict1.components_, dict2.components_, decimal=2)
    assert dict1.n_steps_ == dict2.n_steps_ == 100


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_encode_shapes(solver):
    code = sparse_encode(X, _random_dictionary(12), solver=solver, device="cpu")
    assert code.shape == (n_samples, 12)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("positive", [False, True])
def test_sparse_encode_positivity(solver, positive):
    code = sparse_encode(X, _random_dictionary(12), solver=solver, positive=positive,
                         device="cpu")
    if positive:
        assert (code >= 0).all()
    else:
        assert (code < 0).any()


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_encode_input(solver):
    V = _random_dictionary(100)
    Xf = check_array(X, order="F")
    assert_array_almost_equal(sparse_encode(X, V, solver=solver, device="cpu"),
                              sparse_encode(Xf, V, solver=solver, device="cpu"))


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_encode_error(solver):
    V = _random_dictionary(12)
    code = sparse_encode(X, V, alpha=0.001, solver=solver, device="cpu")
    assert not np.all(code == 0)
    assert np.sqrt(np.sum((np.dot(code, V) - X) ** 2)) < 0.1


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_coder_estimator(solver):
    V = _random_dictionary(12)
    coder = SparseCoder(dictionary=V, alpha=0.001, solver=solver, device="cpu")
    code = coder.fit_transform(X)
    assert not np.all(code == 0)
    assert np.sqrt(np.sum((np.dot(code, V) - X) ** 2)) < 0.1
    assert_allclose(coder.inverse_transform(code), np.dot(code, V))


def test_sparse_coder_estimator_clone():
    V = _random_dictionary(12)
    coder = SparseCoder(dictionary=V, alpha=0.001, device="cpu").fit(X)
    cloned = clone(coder)
    assert id(cloned) != id(coder)
    assert_allclose(cloned.dictionary, coder.dictionary)
    assert id(cloned.dictionary) != id(coder.dictionary)
    data = np.random.RandomState(1).rand(n_samples, n_features).astype(np.float32)
    assert_allclose(cloned.fit(data).transform(data), coder.transform(data), rtol=1e-5)


def test_sparse_coder_common_transformer():
    init_dict = np.random.RandomState(777).rand(40, 3)
    sc = SparseCoder(dictionary=init_dict, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check_transformer_data_not_an_array(sc.__class__.__name__, sc)
        check_transformer_general(sc.__class__.__name__, sc)
        check_transformer_general(sc.__class__.__name__, sc, readonly_memmap=True)
        check_transformers_unfitted(sc.__class__.__name__, sc)


def test_sparse_coder_n_features_in():
    d = np.array([[1, 2, 3], [1, 2, 3]])
    sc = SparseCoder(dictionary=d, device="cpu").fit(np.array([[1, 2, 3]]))
    assert sc.n_features_in_ == d.shape[1]


def test_sparse_encoder_feature_number_error():
    rng = np.random.RandomState(0)
    D = rng.uniform(size=(10, n_features))
    X_wide = rng.uniform(size=(n_samples, n_features + 1))
    with pytest.raises(ValueError, match="features"):
        SparseCoder(dictionary=D, device="cpu").fit(X_wide)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("data_type", (np.float32, np.float64))
def test_sparse_encode_dtype_match(data_type, solver):
    dictionary = np.random.RandomState(0).randn(6, n_features)
    code = sparse_encode(X.astype(data_type), dictionary.astype(data_type), solver=solver,
                         device="cpu")
    assert code.dtype == data_type


@pytest.mark.parametrize("solver", SOLVERS)
def test_sparse_encode_numerical_consistency(solver):
    dictionary = np.random.RandomState(0).randn(6, n_features)
    code_32 = sparse_encode(X.astype(np.float32), dictionary.astype(np.float32),
                            solver=solver, device="cpu")
    code_64 = sparse_encode(X, dictionary, solver=solver, device="cpu")
    assert_allclose(code_32, code_64, rtol=1e-4)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("data_type", (np.float32, np.float64))
def test_sparse_coder_dtype_match(data_type, solver):
    dictionary = np.random.RandomState(0).randn(6, n_features)
    coder = SparseCoder(dictionary=dictionary.astype(data_type), solver=solver, device="cpu")
    assert coder.fit(X.astype(data_type)).transform(X.astype(data_type)).dtype == data_type


@pytest.mark.parametrize("est", [
    SparseCoder(n_components=6, max_iter=5, device="cpu", random_state=0),
    OnlineDictionaryLearner(6, batch_size=4, max_iter=2, device="cpu", random_state=0),
], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("data_type", (np.float32, np.float64))
def test_dictionary_learning_dtype_match(est, data_type):
    est = clone(est).fit(X.astype(data_type))
    assert est.components_.dtype == data_type
    assert est.transform(X.astype(data_type)).dtype == data_type


@pytest.mark.parametrize("est", [
    SparseCoder(n_components=4, alpha=2, max_iter=30, device="cpu", random_state=0),
    OnlineDictionaryLearner(4, alpha=1, batch_size=10, max_iter=100, tol=0,
                            device="cpu", random_state=0),
], ids=lambda e: type(e).__name__)
def test_dict_learning_numerical_consistency(est):
    """float32 and float64 learn the same model (sklearn's test: UV, ||U||_1 and ||V||^2)."""
    m64, m32 = clone(est).fit(X), clone(est).fit(X.astype(np.float32))
    U_64, U_32 = m64.transform(X), m32.transform(X.astype(np.float32))
    V_64, V_32 = m64.components_, m32.components_
    assert_allclose(U_64 @ V_64, U_32 @ V_32, rtol=1e-3, atol=1e-4)
    assert_allclose(np.abs(U_64).sum(), np.abs(U_32).sum(), rtol=1e-3)
    assert_allclose((V_64**2).sum(), (V_32**2).sum(), rtol=1e-4)
    assert np.mean(U_64 != 0.0) > 0.05


@pytest.mark.parametrize("est", [
    SparseCoder(dictionary=rng_global.uniform(size=(n_features, n_features)), device="cpu"),
    SparseCoder(device="cpu", random_state=0),
    OnlineDictionaryLearner(batch_size=4, max_iter=10, device="cpu", random_state=0),
], ids=["SparseCoder(dictionary)", "SparseCoder", "OnlineDictionaryLearner"])
def test_get_feature_names_out(est):
    est = clone(est).fit(X)
    name = type(est).__name__.lower()
    assert_array_equal(est.get_feature_names_out(),
                       [f"{name}{i}" for i in range(X.shape[1])])
