"""The scikit-learn ecosystem around our estimators: dask, feature names, pandas, progress."""

import json
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from _config import INIT_PARAMS, all_estimators
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseAutoencoder,
)

FAST = {"n_components": 6, "batch_size": 32, "device": "cpu", "random_state": 0}
INCREMENTAL = [
    OnlineDictionaryLearner(alpha=0.1, **FAST),
    Autoencoder(**FAST),
    SparseAutoencoder(**FAST),
    KSparseAutoencoder(k=2, **FAST),
    DenoisingAutoencoder(**FAST),
    ContractiveAutoencoder(**FAST),
    PSDEncoder(alpha=0.1, **FAST),
]


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def _data(n=256, p=12, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, p) @ rng.randn(p, p) / np.sqrt(p)


@pytest.mark.parametrize("est", INCREMENTAL, ids=lambda e: type(e).__name__)
def test_dask_incremental_equals_partial_fit_on_the_chunks(est, client):
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X = _data()
    inc = wrappers.Incremental(clone(est), shuffle_blocks=False)
    inc.fit(da.from_array(X, chunks=(64, 12)))
    seq = clone(est)
    for start in range(0, len(X), 64):
        seq.partial_fit(X[start : start + 64])
    np.testing.assert_allclose(inc.estimator_.transform(X), seq.transform(X), rtol=1e-5,
                               atol=1e-6)
    codes = inc.transform(da.from_array(X, chunks=(64, 12))).compute()
    assert codes.shape == (len(X), est.n_components)


def test_grid_search_on_a_dask_cluster(client):
    joblib = pytest.importorskip("joblib")
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 60)
    X = rng.randn(120, 10) + 2 * y[:, None]
    pipe = make_pipeline(Autoencoder(4, max_iter=20, learning_rate=1e-2, device="cpu",
                                     random_state=0), LogisticRegression())
    search = GridSearchCV(pipe, {"autoencoder__n_components": [2, 4],
                                 "logisticregression__C": [0.1, 1.0]}, cv=2, n_jobs=-1)
    with joblib.parallel_config(backend="dask"):
        search.fit(X, y)
    assert search.best_score_ > 0.7
    # the model fitted on the workers came back whole and works here
    assert search.best_estimator_.predict(X).shape == (120,)


@pytest.mark.parametrize("name,cls", [(n, c) for n, c in all_estimators()
                                      if hasattr(c, "transform")])
def test_feature_names_and_pandas_output(name, cls):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.abs(_data(64, 9)), columns=[f"px{i}" for i in range(9)])
    params = INIT_PARAMS.get(name, {})
    est = cls(**params).set_output(transform="pandas").fit(X)
    out = est.transform(X)
    names = est.get_feature_names_out()
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(names)
    assert names[0] == f"{cls.__name__.lower()}0"
    assert list(est.feature_names_in_) == list(X.columns)


def test_verbose_two_shows_batch_progress(capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    Autoencoder(4, max_iter=1, batch_size=32, verbose=2, device="cpu",
                random_state=0).fit(_data())
    OnlineDictionaryLearner(4, batch_size=32, max_iter=1, verbose=2, device="cpu",
                            random_state=0).fit(_data())
    out = capsys.readouterr().out
    assert "epoch 1: 8/8" in out and "[Autoencoder] epoch 1: loss" in out
    assert out.count("epoch 1: 8/8") == 2


def test_convergence_warnings_where_sklearn_warns():
    X = _data()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        Autoencoder(4, max_iter=2, tol=0, device="cpu", random_state=0).fit(X)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        OnlineDictionaryLearner(4, max_iter=2, tol=0, device="cpu", random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        Autoencoder(4, max_iter=50, tol=0.5, n_iter_no_change=1, device="cpu",
                    random_state=0).fit(X)  # stops early: no warning
        Autoencoder(4, device="cpu", random_state=0).partial_fit(X)  # one epoch by design


def _stream_chunk(i, n=500, p=16):
    """Chunk ``i`` of an endless stream of sparse combinations of fixed atoms."""
    atoms = np.random.RandomState(123).randn(24, p)
    rng = np.random.RandomState(i)
    codes = rng.randn(n, 24) * (rng.rand(n, 24) < 0.15)
    return codes @ atoms + 0.05 * rng.randn(n, p)


def _held_out(est, X):
    return -est.score(X)


_STREAM_PARAMS = {"alpha": 0.1, "batch_size": 100, "device": "cpu", "random_state": 0}


def _stream_memory(n_chunks=20):
    """tracemalloc peak of each ``partial_fit`` call and the memory retained after it."""
    stream = OnlineDictionaryLearner(24, **_STREAM_PARAMS)
    stream.partial_fit(_stream_chunk(0))
    peaks, retained = [], []
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(1, n_chunks):
            chunk = _stream_chunk(i)
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            stream.partial_fit(chunk)
            current, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
            retained.append(current - start)
            del chunk
    finally:
        tracemalloc.stop()
    return peaks, retained


def test_partial_fit_on_a_stream_matches_fit_with_constant_memory():
    X_test = _stream_chunk(10_000)
    stream = OnlineDictionaryLearner(24, **_STREAM_PARAMS)
    for i in range(20):
        stream.partial_fit(_stream_chunk(i))
    full = OnlineDictionaryLearner(24, max_iter=1, shuffle=False, **_STREAM_PARAMS)
    full.fit(np.concatenate([_stream_chunk(i) for i in range(20)]))
    assert _held_out(stream, X_test) <= 1.05 * _held_out(full, X_test)

    # memory in a fresh interpreter: tracemalloc counts every thread, and pytest-xdist's
    # channel thread allocates at random moments of this one
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
            "from test_ecosystem import _stream_memory; print(json.dumps(_stream_memory()))")
    out = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)],
                         capture_output=True, text=True, check=True)
    peaks, retained = json.loads(out.stdout.strip().splitlines()[-1])
    # the state is the dictionary and the running averages: what a call needs does not
    # grow with the number of chunks seen, and nothing of the chunks is kept
    assert max(peaks[-5:]) <= 1.1 * max(peaks[:5])
    assert retained[-1] - retained[0] < 4096 * len(retained)
