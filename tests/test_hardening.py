"""Failures, interrupts, forks and extreme inputs (issue #13): the estimator stays usable."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from _config import DEVICE, gpu_steps_on_cpu
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import (
    Autoencoder,
    ImagePatchEncoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseCoder,
    ZCAWhitener,
    sparse_encode,
)
from skl_sparse._solvers._lasso import lasso_gram


def _snapshot(est):
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()
            if k.endswith("_") and not k.startswith("__")}


def _assert_same_state(before, est):
    after = _snapshot(est)
    assert before.keys() == after.keys()
    for k, v in before.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, after[k], err_msg=k)


FORK_SCRIPT = textwrap.dedent("""
    import multiprocessing, numpy as np
    from joblib import Parallel, delayed
    from skl_sparse import SparseCoder, sparse_encode
    rng = np.random.RandomState(0)
    D, X = rng.randn(64, 32), rng.randn(2000, 32)

    def work(i):
        return float(sparse_encode(X[i * 100:(i + 1) * 100], D, alpha=0.1, device="cpu").sum())

    if __name__ == "__main__":
        sparse_encode(X, D, alpha=0.1, device="cpu")  # the parent's thread pools exist now
        SparseCoder(alpha=0.1, dictionary=D, device="cpu").fit(X).transform(X)
        with multiprocessing.get_context("fork").Pool(2) as pool:
            print(pool.map_async(work, range(4)).get(timeout=60))
        print(Parallel(n_jobs=2, backend="multiprocessing")(delayed(work)(i) for i in range(4)))
""")


@pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")
def test_forked_workers_do_not_hang(tmp_path):
    script = tmp_path / "fork_after_use.py"
    script.write_text(FORK_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("[") == 2


def test_failed_partial_fit_leaves_optimiser_moments_intact(rng):
    X = rng.rand(300, 10).astype(np.float32)
    est = Autoencoder(n_components=4, activation="linear", optimizer="sgd", learning_rate=1e-3,
                      max_iter=2, device=DEVICE, random_state=0).fit(X)
    before = _snapshot(est)
    moments = [v.clone() for v in est._optimizer_state["state_dict"]["state"][0].values()
               if hasattr(v, "clone")]
    est.set_params(learning_rate=1e6)
    with pytest.raises(ValueError, match="diverged"):
        est.partial_fit(X)
    _assert_same_state(before, est)
    kept = [v for v in est._optimizer_state["state_dict"]["state"][0].values()
            if hasattr(v, "clone")]
    for a, b in zip(moments, kept, strict=True):
        assert bool((a == b).all())
    est.set_params(learning_rate=1e-4).partial_fit(X)  # trains on, finite
    assert np.isfinite(est.loss_curve_[-1])


def test_partial_fit_never_changes_earlier_references(whitened_patches):
    est = OnlineDictionaryLearner(16, alpha=0.1, batch_size=50, device=DEVICE,
                                  random_state=0).partial_fit(whitened_patches[:200])
    components, A = est.components_, est.A_
    copies = components.copy(), A.copy()
    est.partial_fit(whitened_patches[200:400])
    np.testing.assert_array_equal(components, copies[0])
    np.testing.assert_array_equal(A, copies[1])
    assert not np.array_equal(est.components_, copies[0])


def test_interrupted_partial_fit_leaves_the_model_unchanged(whitened_patches, monkeypatch):
    est = OnlineDictionaryLearner(16, alpha=0.1, batch_size=50, device=DEVICE,
                                  random_state=0).partial_fit(whitened_patches[:200])
    before, steps = _snapshot(est), est.n_steps_
    step = OnlineDictionaryLearner._minibatch_step
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return step(self, *args, **kwargs)

    monkeypatch.setattr(OnlineDictionaryLearner, "_minibatch_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(whitened_patches[200:400])
    _assert_same_state(before, est)
    assert est.n_steps_ == steps


class _Broken(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        raise RuntimeError("patch encoder failed")

    def transform(self, X):
        return X


def test_interrupted_image_encoder_refit_leaves_the_model_unchanged(rng):
    images = rng.rand(20, 9, 9)
    enc = ImagePatchEncoder(PCA(4), patch_size=(3, 3), step=2, n_fit_patches=200,
                            random_state=0).fit(images)
    codes = enc.transform(images)
    with pytest.raises(RuntimeError, match="patch encoder"):
        enc.set_params(patch_encoder=_Broken()).fit(images * 5)
    enc.set_params(patch_encoder=PCA(4))
    np.testing.assert_array_equal(enc.transform(images), codes)
    with pytest.raises(ValueError):  # rejected by validation: the fitted model stays
        enc.fit(np.full((5, 9, 9), np.nan))
    np.testing.assert_array_equal(enc.transform(images), codes)


@pytest.mark.parametrize("est", [
    ZCAWhitener(),
    SparseCoder(n_components=6, alpha=0.1, max_iter=2, device=DEVICE, random_state=0),
    SparseCoder(n_components=6, solver="lar", n_nonzero_coefs=2, split_sign=True,
                max_iter=2, device=DEVICE, random_state=0),
    OnlineDictionaryLearner(6, alpha=0.1, batch_size=20, max_iter=1, device=DEVICE,
                            random_state=0),
    OnlineDictionaryLearner(6, solver="threshold", alpha=0.1, batch_size=20, max_iter=1,
                            device=DEVICE, random_state=0),
    Autoencoder(n_components=3, max_iter=1, device=DEVICE, random_state=0),
    PSDEncoder(n_components=3, alpha=0.1, max_iter=1, device=DEVICE, random_state=0),
], ids=lambda e: type(e).__name__ + ("-" + e.solver if hasattr(e, "solver") else ""))
def test_fit_rejected_by_validation_keeps_the_fitted_model(est, rng):
    X = rng.randn(60, 5)
    est = clone(est).fit(X)
    codes = est.transform(X)
    for bad in (np.full((10, 5), np.nan), rng.randn(10, 7)[:, :, None]):
        with pytest.raises(ValueError):
            est.fit(bad)
        assert est.n_features_in_ == 5
        np.testing.assert_array_equal(est.transform(X), codes)


def _lasso_iterations(X, D, alpha, solver):
    """Codes and iterations of the lasso core on numpy inputs (float64 or float32)."""
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    H, n_iter, primal, gap = lasso_gram(Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1), alpha,
                                        solver=solver, max_support=D.shape[1])
    return H.numpy(), n_iter


def test_float32_codes_confirmed_exact_without_iterations(rng):
    """The duality gap in float64 confirms float32 homotopy codes at once (before: FISTA ran
    to max_iter on 373 of 500 samples, 25 s, and warned)."""
    D = rng.randn(64, 32)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(500, 32)
    H32, n_iter = _lasso_iterations(X.astype(np.float32), D.astype(np.float32), 0.01, "lars")
    assert n_iter == 0 and H32.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        codes = sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.01,
                              solver="lars", device=DEVICE)
    H64 = sparse_encode(X, D, alpha=0.01, solver="lars", device=DEVICE)

    def objective(H):
        return (0.5 * ((X - H @ D) ** 2).sum(1) + 0.01 * np.abs(H).sum(1)).mean()

    assert objective(codes.astype(np.float64)) <= objective(H64) * (1 + 1e-5)


@pytest.mark.parametrize("solver", ["lars", "fista", "ista"])
def test_alpha_zero_converges_at_once(solver, rng):
    """alpha=0 (least squares, here with duplicated atoms) converges, without a warning
    (before: the relative gap test could never hold, every sample ran to max_iter)."""
    D = rng.randn(20, 12)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D = np.vstack([D, D])
    X = rng.randn(60, 12)
    H, n_iter = _lasso_iterations(X, D, 0.0, solver)
    assert n_iter <= 400  # max_iter: 1000
    np.testing.assert_allclose(H @ D, X, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        SparseCoder(alpha=0.0, dictionary=D, solver=solver, device=DEVICE).fit(X).transform(X)


@pytest.mark.parametrize("est", [
    Autoencoder(n_components=3, max_iter=1, random_state=0),
    PSDEncoder(n_components=3, alpha=0.1, max_iter=1, random_state=0),
], ids=lambda e: type(e).__name__)
def test_values_beyond_float32_range_are_rejected(est, rng):
    X = rng.randn(50, 4)
    est = clone(est).set_params(device=DEVICE)
    with pytest.raises(ValueError, match="float32"):
        est.fit(X * 1e40)
    est.fit(X)
    with pytest.raises(ValueError, match="float32"):
        est.transform(X * 1e40)


def test_gpu_steps_guard_leaves_state_on_failure(whitened_patches, monkeypatch):
    """The same guarantee on the GPU's sync-free steps (forced on the CPU)."""
    gpu_steps_on_cpu(monkeypatch)
    est = OnlineDictionaryLearner(16, alpha=0.1, batch_size=50, device="cpu",
                                  random_state=0).partial_fit(whitened_patches[:200])
    before = _snapshot(est)
    with pytest.raises(ValueError):
        est.partial_fit(np.full((10, whitened_patches.shape[1]), np.nan))
    _assert_same_state(before, est)


@pytest.mark.parametrize("case, match", [
    (lambda X, D: PSDEncoder(8, optimizer="sgd", learning_rate=1e6, max_iter=2, device=DEVICE,
                             random_state=0).fit(X), "diverged"),
    (lambda X, D: PSDEncoder(8, max_iter=2, device=DEVICE, random_state=0).fit(X * 1e30),
     "diverged"),
    (lambda X, D: sparse_encode(X, D * 1e200, device=DEVICE), "dictionary .*rescale"),
    (lambda X, D: SparseCoder(4, max_iter=2, device=DEVICE).fit(X * 1e200), "X .*rescale"),
    (lambda X, D: OnlineDictionaryLearner(4, device=DEVICE).partial_fit(X * 1e200),
     "X .*rescale"),
    (lambda X, D: ZCAWhitener().fit(X * 1e200), "covariance overflows"),
], ids=["psd-sgd-diverges", "psd-huge-X", "huge-dictionary", "coder-huge-X", "odl-huge-X",
        "zca-huge-X"])
def test_extreme_values_get_errors_that_say_what_is_wrong(case, match, rng):
    X, D = rng.randn(200, 16), rng.randn(20, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match=match):
            case(X, D)


def test_fit_gabor_validates_and_is_scale_invariant():
    from skl_sparse.gabor import fit_gabor, gabor_kernel

    atom = gabor_kernel((12, 12), x0=6.0, y0=5.0, theta=2.0, frequency=0.2, phase=1.0,
                        sigma_x=2.0, sigma_y=3.0)
    small, huge = fit_gabor(atom), fit_gabor(atom * 1e300)
    assert huge["theta"] == pytest.approx(small["theta"])
    assert huge["amplitude"] == pytest.approx(small["amplitude"] * 1e300)
    for n_starts in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="n_starts"):
            fit_gabor(atom, n_starts=n_starts)
    with pytest.raises(ValueError, match="real"):
        fit_gabor(atom + 1j * atom)


def _fail_on_call(monkeypatch, owner, name, at=2):
    """Patch ``owner.name`` to raise KeyboardInterrupt on its ``at``-th call."""
    original = getattr(owner, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, failing)


_INJECT = {
    "ZCAWhitener": ("skl_sparse.preprocessing._whitening.linalg", "eigh", 1),
    "SparseCoder": ("skl_sparse.sparse_coding._dict_learning", "resample_atoms_", 2),
    "OnlineDictionaryLearner": (
        "skl_sparse.sparse_coding._online_dictionary.OnlineDictionaryLearner",
        "_minibatch_step", 3),
    "Autoencoder": ("skl_sparse.neural_network._base._TorchTransformer", "_epoch", 2),
    "PSDEncoder": ("skl_sparse.neural_network._base._TorchTransformer", "_epoch", 2),
}


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("est", [
    ZCAWhitener(),
    SparseCoder(n_components=6, alpha=0.1, max_iter=5, tol=0, device=DEVICE, random_state=0),
    SparseCoder(n_components=6, solver="omp", n_nonzero_coefs=2, dict_update="ksvd",
                max_iter=5, tol=0, device=DEVICE, random_state=0),
    OnlineDictionaryLearner(6, alpha=0.1, batch_size=10, max_iter=2, device=DEVICE,
                            random_state=0),
    OnlineDictionaryLearner(6, solver="ols", n_nonzero_coefs=2, positive_dict=True,
                            batch_size=10, max_iter=2, device=DEVICE, random_state=0),
    Autoencoder(n_components=3, max_iter=3, device=DEVICE, random_state=0),
    PSDEncoder(n_components=3, alpha=0.1, max_iter=3, device=DEVICE, random_state=0),
], ids=lambda e: type(e).__name__ + ("-" + e.solver if hasattr(e, "solver") else ""))
def test_interrupted_fit_leaves_the_fitted_model_unchanged(est, method, rng, monkeypatch):
    import importlib

    if not hasattr(est, method):
        pytest.skip(f"{type(est).__name__} has no {method}")
    X = rng.randn(60, 5)
    est = clone(est).fit(X)
    before, codes = _snapshot(est), est.transform(X)
    path, name, at = _INJECT[type(est).__name__]
    if name == "_epoch" and method == "partial_fit":
        at = 1  # partial_fit is one epoch
    module_path, _, attr = path.rpartition(".")
    try:
        owner = getattr(importlib.import_module(module_path), attr)
    except (ImportError, AttributeError):
        owner = importlib.import_module(path)
    _fail_on_call(monkeypatch, owner, name, at)
    with pytest.raises(KeyboardInterrupt):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            getattr(est, method)(X + 1.0)
    monkeypatch.undo()
    _assert_same_state(before, est)
    np.testing.assert_array_equal(est.transform(X), codes)
