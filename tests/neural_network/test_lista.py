"""LISTAEncoder: trained unrolled ISTA reproduces the lasso codes better than ISTA itself."""

import numpy as np
import pytest
import torch
from _config import DEVICE
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator

from skl_sparse import LISTAEncoder, OnlineDictionaryLearner, SparseCoder, sparse_encode


@pytest.fixture(scope="module")
def coding_problem(whitened_patches):
    X = whitened_patches / np.sqrt((whitened_patches**2).sum(1).mean())
    odl = OnlineDictionaryLearner(48, alpha=0.1, max_iter=2, device="cpu",
                                  random_state=0).fit(X[:1000])
    return X[:1500], X[1500:], odl


def _distance(Z, H):
    return np.linalg.norm(Z - H) / np.linalg.norm(H)


def _ista(X, D, alpha, n_iter):
    """Plain ISTA from zero, the initialisation of LISTA."""
    L = np.linalg.eigvalsh(D @ D.T).max()
    H = np.zeros((len(X), len(D)))
    for _ in range(n_iter):
        V = H + (X @ D.T - H @ D @ D.T) / L
        H = np.sign(V) * np.maximum(np.abs(V) - alpha / L, 0)
    return H


def test_lista_beats_ista_and_improves_with_depth(coding_problem):
    train, test, odl = coding_problem
    H = sparse_encode(test, odl.components_, alpha=0.1, device="cpu")
    distances = []
    for n_layers in (1, 3):
        lista = LISTAEncoder(n_layers, alpha=0.1, dictionary=odl, max_iter=60,
                             learning_rate=3e-3, batch_size=64, device=DEVICE,
                             random_state=0).fit(train)
        d = _distance(lista.transform(test), H)
        assert d < 0.8 * _distance(_ista(test, odl.components_, 0.1, n_layers), H)
        distances.append(d)
    assert distances[1] < distances[0]
    np.testing.assert_array_equal(lista.components_, odl.components_.astype(np.float32))


def test_initialisation_is_ista(coding_problem):
    train, test, odl = coding_problem
    lista = LISTAEncoder(3, alpha=0.1, dictionary=odl.components_, max_iter=1,
                         learning_rate=1e-12, device="cpu", random_state=0).fit(train)
    np.testing.assert_allclose(lista.transform(test),
                               _ista(test, odl.components_, 0.1, 3), atol=1e-4)


def test_dictionary_sources_and_errors(coding_problem, rng):
    train, _, odl = coding_problem
    coder = SparseCoder(alpha=0.1, dictionary=odl.components_, device="cpu").fit(train)
    a = LISTAEncoder(1, dictionary=coder, max_iter=2, device="cpu", random_state=0).fit(train)
    assert a.components_.shape == odl.components_.shape
    learned = LISTAEncoder(1, n_components=7, max_iter=2, device="cpu",
                           random_state=0).fit(train)
    assert learned.transform(train).shape == (len(train), 7)
    with pytest.raises(ValueError, match="n_components=5"):
        LISTAEncoder(1, n_components=5, dictionary=odl, device="cpu").fit(train)
    with pytest.raises(ValueError, match="features"):
        LISTAEncoder(1, dictionary=rng.randn(4, 3), device="cpu").fit(train)
    with pytest.raises(ValueError, match="unfitted OnlineDictionaryLearner.*FrozenEstimator"):
        LISTAEncoder(1, dictionary=OnlineDictionaryLearner(4), device="cpu").fit(train)


def test_partial_fit_continues_on_the_same_dictionary(coding_problem):
    train, test, odl = coding_problem
    est = LISTAEncoder(2, alpha=0.1, dictionary=odl, max_iter=2, device=DEVICE,
                       random_state=0).fit(train)
    D = est.components_.copy()
    before = _distance(est.transform(test), sparse_encode(test, odl.components_, alpha=0.1))
    for _ in range(5):
        est.partial_fit(train)
    np.testing.assert_array_equal(est.components_, D)
    after = _distance(est.transform(test), sparse_encode(test, odl.components_, alpha=0.1))
    assert after < before
    assert len(est.loss_curve_) == 7


def test_codes_are_sparse_and_thresholds_non_negative(coding_problem):
    train, test, odl = coding_problem
    # clone (as in a grid search) keeps a frozen fitted dictionary learner
    est = clone(LISTAEncoder(3, alpha=0.1, dictionary=FrozenEstimator(odl), max_iter=5,
                             learning_rate=1e-2, device="cpu", random_state=0)).fit(train)
    np.testing.assert_array_equal(est.components_, odl.components_.astype(np.float32))
    assert (est.thresholds_ >= 0).all()
    Z = est.transform(test)
    assert 0.01 < np.mean(Z != 0) < 0.9
    assert torch.as_tensor(Z).isfinite().all()
