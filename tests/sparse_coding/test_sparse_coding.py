"""Dictionary learning: SparseCoder (batch) and OnlineDictionaryLearner."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from _config import DEVICE, gpu_steps_on_cpu
from sklearn.base import clone
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skl_sparse import OnlineDictionaryLearner, SparseCoder, ZCAWhitener

ESTIMATORS = [
    lambda **kw: SparseCoder(**{"n_components": 24, "alpha": 0.1, "max_iter": 8, **kw}),
    lambda **kw: OnlineDictionaryLearner(
        **{"n_components": 24, "alpha": 0.1, "batch_size": 64, "max_iter": 2, **kw}
    ),
]


def _objective(X, D, H, alpha):
    return float((0.5 * ((X - H @ D) ** 2).sum(1) + alpha * np.abs(H).sum(1)).mean())


@pytest.mark.parametrize("dict_update", ["bcd", "pgd"])
def test_batch_objective_decreases_and_atoms_unit_norm(whitened_patches, dict_update):
    X = whitened_patches[:800]
    coder = SparseCoder(
        32, alpha=0.1, dict_update=dict_update, max_iter=15, tol=0, device=DEVICE,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        coder.fit(X)
    obj = coder.objective_
    assert coder.n_iter_ == len(obj) == 15
    if dict_update == "bcd":
        assert np.all(np.diff(obj) <= 1e-9 * obj[:-1])
    assert obj[-1] < 0.9 * obj[0]
    np.testing.assert_allclose(np.linalg.norm(coder.components_, axis=1), 1, atol=1e-10)
    assert np.isfinite(coder.components_).all()
    # the stored objective is the objective of the codes transform returns
    assert coder.stationarity_[-1] < coder.stationarity_[0]


def test_batch_stops_on_stationarity(whitened_patches):
    coder = SparseCoder(
        16, alpha=0.1, max_iter=200, tol=5e-2, device=DEVICE, random_state=0
    ).fit(whitened_patches[:500])
    assert coder.n_iter_ < 200
    assert coder.stationarity_[-1] <= 5e-2


def test_unused_atoms_are_resampled(rng):
    """Data in a 2-D subspace and many atoms: most atoms go unused, none stay zero or NaN."""
    X = rng.randn(300, 2) @ rng.randn(2, 10)
    for est in (
        SparseCoder(20, alpha=0.5, max_iter=5, device=DEVICE, random_state=0),
        OnlineDictionaryLearner(20, alpha=0.5, batch_size=50, max_iter=3, device=DEVICE,
                                random_state=0),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X)
        D = est.components_
        assert np.isfinite(D).all()
        np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1, atol=1e-8)


def test_given_dictionary_codes(rng):
    D = rng.randn(12, 6)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(40, 6)
    coder = SparseCoder(dictionary=D, alpha=0.2, device=DEVICE).fit(X)
    np.testing.assert_array_equal(coder.components_, D)
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, max_iter=10000)
    np.testing.assert_allclose(coder.transform(X), ref, atol=1e-4)
    np.testing.assert_allclose(coder.inverse_transform(coder.transform(X)), ref @ D, atol=1e-4)
    with pytest.raises(ValueError, match="features"):
        SparseCoder(dictionary=D[:, :4]).fit(X)
    with pytest.raises(ValueError, match="n_components"):
        SparseCoder(5, dictionary=D).fit(X)


@pytest.mark.parametrize("gpu_steps", [False, True], ids=["exact-steps", "gpu-steps"])
def test_online_partial_fit_continues_exactly(whitened_patches, gpu_steps, monkeypatch):
    """Also for the GPU's sync-free mini-batch steps, forced on the CPU."""
    if gpu_steps:
        gpu_steps_on_cpu(monkeypatch)
    X = whitened_patches[:640]
    params = dict(n_components=20, alpha=0.1, batch_size=64, device=DEVICE, random_state=3,
                  dict_init=whitened_patches[1000:1020])
    full = OnlineDictionaryLearner(max_iter=1, shuffle=False, **params).fit(X)
    parts = OnlineDictionaryLearner(**params)
    for chunk in np.split(X, [128, 384]):
        parts.partial_fit(chunk)
    np.testing.assert_allclose(parts.components_, full.components_, atol=1e-12)
    np.testing.assert_allclose(parts.A_, full.A_, atol=1e-12)
    assert parts.n_steps_ == full.n_steps_ == 10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("density", [0.06, 0.6])
def test_running_averages_match_the_products(dtype, density, monkeypatch):
    """The online learner's running averages ``A <- beta A + w H^T H``,
    ``B <- beta B + w H^T X``: through the non-zero codes on the CPU (sparse codes), by
    matrix products otherwise; the same values either way."""
    import skl_sparse.sparse_coding._dict_learning as dict_learning

    calls = []
    kernel = dict_learning.accumulate_sparse_
    monkeypatch.setattr(dict_learning, "accumulate_sparse_",
                        lambda *args: calls.append(1) or kernel(*args))

    gen = torch.Generator().manual_seed(0)
    H = torch.randn(200, 48, generator=gen, dtype=dtype)
    H *= torch.rand(200, 48, generator=gen, dtype=dtype) < density
    X = torch.randn(200, 30, generator=gen, dtype=dtype)
    A0 = torch.randn(48, 48, generator=gen, dtype=dtype)
    A0 = A0 @ A0.T
    B0 = torch.randn(48, 30, generator=gen, dtype=dtype)
    A, B = A0.clone(), B0.clone()
    dict_learning.accumulate_(A, B, H, X, 0.9)
    weight = 0.1 / 200
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(A, 0.9 * A0 + weight * H.T @ H, rtol=tol, atol=tol)
    torch.testing.assert_close(B, 0.9 * B0 + weight * H.T @ X, rtol=tol, atol=tol)
    assert len(calls) == (density <= dict_learning.SPARSE_ACCUMULATE_DENSITY)


def test_online_partial_fit_close_to_fit(whitened_patches):
    """Held-out objective of partial_fit over chunks within 5% of fit on the same data."""
    train, test = whitened_patches[:1600], whitened_patches[1600:]
    params = dict(n_components=32, alpha=0.1, batch_size=100, device=DEVICE, random_state=0)
    fitted = OnlineDictionaryLearner(max_iter=3, tol=0, **params).fit(train)
    online = OnlineDictionaryLearner(**params)
    for _ in range(3):
        for chunk in np.array_split(train, 8):
            online.partial_fit(chunk)
    f_fit, f_online = -fitted.score(test), -online.score(test)
    f_zero = 0.5 * (test**2).sum(1).mean()
    assert f_fit < 0.8 * f_zero
    assert abs(f_online - f_fit) <= 0.05 * f_fit


def test_online_matches_batch_quality(whitened_patches):
    train, test = whitened_patches[:1600], whitened_patches[1600:]
    batch = SparseCoder(32, alpha=0.1, max_iter=10, device=DEVICE, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch.fit(train)
    online = OnlineDictionaryLearner(32, alpha=0.1, batch_size=100, max_iter=5, tol=0,
                                     device=DEVICE, random_state=0).fit(train)
    assert -online.score(test) <= 1.05 * -batch.score(test)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_same_random_state_same_dictionary(make, whitened_patches):
    X = whitened_patches[:400]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = make(random_state=7, device=DEVICE).fit(X).components_
        b = make(random_state=7, device=DEVICE).fit(X).components_
        c = make(random_state=8, device=DEVICE).fit(X).components_
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fitted_attributes_are_numpy_and_pickle(make, whitened_patches):
    X = whitened_patches[:300]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make(random_state=0, device=DEVICE).fit(X)
    for name, value in vars(est).items():
        if name.endswith("_") and not name.startswith("_"):
            assert not type(value).__module__.startswith("torch"), name
    clone_ = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone_.transform(X[:20]), est.transform(X[:20]))


@pytest.mark.parametrize("make", ESTIMATORS)
def test_transform_dtype_and_score(make, whitened_patches):
    X = whitened_patches[:300].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make(random_state=0, device=DEVICE).fit(X)
    codes = est.transform(X)
    assert codes.dtype == np.float32 and est.components_.dtype == np.float32
    assert est.inverse_transform(codes).dtype == np.float32
    assert est.score(X) <= 0
    assert est.get_feature_names_out()[0].endswith("0")


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize(
    "bad,match",
    [
        ({"n_components": 0}, "n_components"),
        ({"alpha": -0.1}, "alpha"),
        ({"solver": "lasso_lars"}, "solver"),
        ({"positive": "yes"}, "positive"),
        ({"device": "quantum"}, "device"),
        ({"max_iter": 0}, "max_iter"),
        ({"transform_tol": -1}, "transform_tol"),
    ],
)
def test_invalid_parameters(make, bad, match, whitened_patches):
    with pytest.raises(ValueError, match=match):
        make(**bad).fit(whitened_patches[:50])


@pytest.mark.parametrize("make", ESTIMATORS)
def test_bad_input(make, whitened_patches):
    X = whitened_patches[:100]
    est = make(device=DEVICE, random_state=0)
    for bad, match in [
        (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), "NaN"),
        (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), "infinity"),
        (X[:, 0], "2D array"),
        (X[:0], "0 sample"),
    ]:
        with pytest.raises(ValueError, match=match):
            clone(est).fit(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :-1])
    with pytest.raises(ValueError, match="components"):
        est.inverse_transform(np.zeros((2, 3)))


def test_online_dict_init_and_forget_factor_validation(whitened_patches):
    X = whitened_patches[:100]
    with pytest.raises(ValueError, match="dict_init"):
        OnlineDictionaryLearner(5, dict_init=np.ones((4, X.shape[1]))).fit(X)
    with pytest.raises(ValueError, match="forget_factor"):
        OnlineDictionaryLearner(5, forget_factor=1.5).fit(X)
    D0 = whitened_patches[200:205] * 3
    est = OnlineDictionaryLearner(5, dict_init=D0, max_iter=1, device=DEVICE).fit(X)
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1)


def test_positive_codes(whitened_patches):
    est = OnlineDictionaryLearner(16, alpha=0.1, positive=True, batch_size=50, max_iter=1,
                                  device=DEVICE, random_state=0).fit(whitened_patches[:300])
    assert (est.transform(whitened_patches[:50]) >= 0).all()


def test_verbose_prints_progress(whitened_patches, capsys):
    OnlineDictionaryLearner(8, max_iter=2, tol=0, verbose=1, device=DEVICE,
                            random_state=0).fit(whitened_patches[:200])
    out = capsys.readouterr().out
    assert "epoch 1" in out and "objective=" in out


def test_pipeline_grid_search(whitened_patches, rng):
    X = whitened_patches[:300]
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    pipe = Pipeline([
        ("zca", ZCAWhitener(eps=0.1)),
        ("sc", OnlineDictionaryLearner(16, batch_size=50, max_iter=1, device=DEVICE,
                                       random_state=0)),
        ("clf", LogisticRegression(max_iter=200)),
    ])
    search = GridSearchCV(pipe, {"sc__alpha": [0.05, 0.2]}, cv=2, n_jobs=2).fit(X, y)
    assert search.best_score_ > 0.6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_and_pickles_to_numpy(whitened_patches):
    X = whitened_patches[:400]
    # "lars": exact codes and the block-coordinate sweep on both devices
    params = dict(n_components=16, alpha=0.1, batch_size=100, max_iter=1, solver="lars",
                  random_state=0)
    gpu = OnlineDictionaryLearner(device="cuda", **params).fit(X)
    cpu = OnlineDictionaryLearner(device="cpu", **params).fit(X)
    np.testing.assert_allclose(gpu.components_, cpu.components_, atol=1e-6)
    restored = pickle.loads(pickle.dumps(gpu))
    assert isinstance(restored.components_, np.ndarray)
    restored.set_params(device="cpu")
    np.testing.assert_allclose(restored.transform(X[:50]), gpu.transform(X[:50]), atol=1e-6)


def test_device_auto_resolves():
    from skl_sparse._device import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_default_learner_as_good_as_cpu(whitened_patches):
    """The GPU's sync-free mini-batch steps learn a dictionary as good as the CPU's."""
    X, X_test = whitened_patches[:1500], whitened_patches[1500:]
    params = dict(n_components=32, alpha=0.1, batch_size=100, max_iter=2, random_state=0)
    scores = [OnlineDictionaryLearner(device=d, **params).fit(X).score(X_test)
              for d in ("cpu", "cuda")]
    assert scores[1] >= scores[0] * 1.02  # scores are negative objectives
