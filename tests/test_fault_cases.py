"""The defects of issue 28's fault run (part 2), one test each: extreme values, degenerate
parameters and interrupted steps get a clear error or a finite result, never a torch
traceback, NaN, or a half-changed model."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from _config import DEVICE
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    GaborDictionaryLearner,
    ImagePatchEncoder,
    KSparseAutoencoder,
    LISTAEncoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseAutoencoder,
    SparseCoder,
    ZCAWhitener,
    sparse_encode,
)
from skl_sparse.nn import GaborConv2d


@pytest.fixture
def X():
    return np.random.RandomState(0).randn(60, 16)


@pytest.fixture
def unit_dictionary():
    D = np.random.RandomState(1).randn(8, 16)
    return D / np.linalg.norm(D, axis=1, keepdims=True)


_NET = {"n_components": 6, "max_iter": 2, "random_state": 0}


@pytest.mark.parametrize("est", [
    Autoencoder(**_NET), SparseAutoencoder(**_NET), KSparseAutoencoder(**_NET, k=2),
    DenoisingAutoencoder(**_NET), ContractiveAutoencoder(**_NET),
    PSDEncoder(**_NET, alpha=0.1), LISTAEncoder(n_components=6, n_layers=2, max_iter=2,
                                                random_state=0),
], ids=lambda e: type(e).__name__)
def test_inverse_transform_rejects_codes_beyond_float32(est, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = clone(est).set_params(device=DEVICE).fit(X)
    Z = est.transform(X[:2]).astype(np.float64)
    assert np.isfinite(est.inverse_transform(Z)).all()
    Z[0, 0] = 1e39
    with pytest.raises(ValueError, match="float32"):
        est.inverse_transform(Z)


def test_huge_given_dictionary_is_named(X, unit_dictionary):
    with pytest.raises(ValueError, match="dictionary has values .* rescale dictionary"):
        SparseCoder(dictionary=unit_dictionary * 1e200, device=DEVICE).fit(X)


@pytest.mark.parametrize("make", [
    lambda D: SparseCoder(dictionary=D, device=DEVICE),
    lambda D: OnlineDictionaryLearner(8, max_iter=1, device=DEVICE, random_state=0),
    lambda D: GaborDictionaryLearner(8, max_iter=1, device=DEVICE, random_state=0),
], ids=["SparseCoder", "OnlineDictionaryLearner", "GaborDictionaryLearner"])
def test_non_finite_components_get_a_clear_error(make, X, unit_dictionary):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make(unit_dictionary).fit(X)
    est.components_[0, 0] = np.nan
    with pytest.raises(ValueError, match="dictionary contains NaN"):
        est.transform(X)


@pytest.mark.parametrize("learning_rate", [1e9, 1e30])
def test_diverging_gabor_learner_raises_and_keeps_the_model(learning_rate, X):
    est = GaborDictionaryLearner(6, max_iter=1, device=DEVICE, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X)
        before = pickle.dumps(est)
        est.set_params(learning_rate=learning_rate)
        with pytest.raises(ValueError, match="diverged.*lower learning_rate.*unchanged"):
            est.partial_fit(X)
        with pytest.raises(ValueError, match="diverged"):
            clone(est).fit(X)
    assert pickle.dumps(est.set_params(learning_rate=GaborDictionaryLearner().learning_rate)) \
        == before


def test_gabor_sigma_init_below_a_thousandth_of_a_pixel_is_rejected_by_name(X):
    with pytest.raises(InvalidParameterError, match="sigma_init"):
        GaborDictionaryLearner(6, sigma_init=1e-300, device=DEVICE).fit(X)


@pytest.mark.parametrize("sigma", [1e-30, 1e-300])
def test_gabor_conv_with_vanishing_widths_renders_finite_points(sigma):
    dtype = torch.float64 if sigma < 1e-38 else torch.float32
    m = GaborConv2d(1, 4, 5, sigma_init=sigma, dtype=dtype)
    kernels = m.kernels()
    assert torch.isfinite(kernels).all()
    # a point at the centre: nothing off it
    off_centre = kernels.clone()
    off_centre[..., 2, 2] = 0
    assert not off_centre.any()


def test_empty_batch_leaves_the_running_rms_alone():
    torch.manual_seed(0)
    m = GaborConv2d(1, 4, 3, normalize=True)
    reference = copy.deepcopy(m)
    assert m(torch.zeros(0, 1, 8, 8)).shape == (0, 4, 6, 6)
    torch.testing.assert_close(m.running_rms, reference.running_rms)
    x = torch.randn(4, 1, 8, 8)
    m(x), reference(x)
    m.eval(), reference.eval()
    out = m(torch.randn(2, 1, 8, 8))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(m.running_rms, reference.running_rms)


@pytest.mark.parametrize("normalize", [False, True])
def test_unbatched_input_is_taken_as_conv2d_takes_it(normalize):
    torch.manual_seed(0)
    m = GaborConv2d(2, 4, 3, normalize=normalize).eval()
    x = torch.randn(2, 8, 8)
    out = m(x)
    assert out.shape == torch.nn.Conv2d(2, 4, 3)(x).shape == (4, 6, 6)
    torch.testing.assert_close(out, m(x[None])[0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) or \(C, H, W\)"):
        m(torch.randn(8, 8))


@pytest.mark.parametrize("scale, dtype", [(1e200, np.float64), (1e30, np.float32)])
def test_image_patch_encoder_is_scale_invariant_at_extreme_scales(scale, dtype):
    images = np.random.RandomState(0).rand(6, 12, 12)
    params = dict(patch_size=(4, 4), n_fit_patches=500, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("error", RuntimeWarning)
        big = ImagePatchEncoder(**params).fit((images * scale).astype(dtype))
        small = ImagePatchEncoder(**params).fit(images)
    assert np.isfinite(big.contrast_floor_)
    assert big.contrast_floor_ == pytest.approx(scale * small.contrast_floor_, rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plain = small.transform(images)
        scaled = small.transform(images * 1e200)
    # normalised patches: only the contrast floor (negligible at 1e200) tells them apart
    assert np.abs(scaled).max() == pytest.approx(np.abs(plain).max(), rel=0.25)


def test_zca_float32_covariance_beyond_float32_is_rejected(X):
    with pytest.raises(ValueError, match="covariance overflows float32; rescale X"):
        ZCAWhitener().fit((X * 1e30).astype(np.float32))
    assert np.isfinite(ZCAWhitener().fit((X * 1e15).astype(np.float32)).explained_variance_).all()


def _stream(rng):
    _, key, pos, *_ = rng.get_state()
    return key.tobytes(), pos


@pytest.mark.parametrize("make", [
    lambda: OnlineDictionaryLearner(6, alpha=0.5, batch_size=10, device=DEVICE,
                                    random_state=0),
    lambda: GaborDictionaryLearner(6, alpha=0.5, batch_size=10, device=DEVICE,
                                   random_state=0),
], ids=["OnlineDictionaryLearner", "GaborDictionaryLearner"])
def test_failed_partial_fit_leaves_the_random_stream_alone(make, X, monkeypatch):
    """A step that drew from the stream (as a redrawn dead atom does) and then failed
    leaves the stored stream where it was: the next partial_fit is an untouched copy's."""
    est = make().partial_fit(X)
    untouched = copy.deepcopy(est)
    stream = _stream(est._rng)
    step = type(est)._minibatch_step
    calls = []

    def drawing_then_failing(self, Xb, state, rng):
        out = step(self, Xb, state, rng)
        rng.standard_normal(3)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return out

    monkeypatch.setattr(type(est), "_minibatch_step", drawing_then_failing)
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X)
    monkeypatch.setattr(type(est), "_minibatch_step", step)
    assert _stream(est._rng) == stream
    est.partial_fit(X)
    untouched.partial_fit(X)
    assert _stream(est._rng) == _stream(untouched._rng)
    np.testing.assert_array_equal(est.components_, untouched.components_)


@pytest.mark.parametrize("make, name", [
    (lambda D: SparseCoder(dictionary=D, device=DEVICE), "dictionary"),
    (lambda D: SparseCoder(4, dict_init=D, device=DEVICE), "dict_init"),
    (lambda D: OnlineDictionaryLearner(4, dict_init=D, device=DEVICE), "dict_init"),
    (lambda D: LISTAEncoder(dictionary=D, device=DEVICE), "dictionary"),
], ids=["SparseCoder", "SparseCoder-dict_init", "OnlineDictionaryLearner", "LISTAEncoder"])
@pytest.mark.parametrize("bad, match", [
    (np.zeros((0, 16)), "has no atoms"),
    (np.ones(16), "must be a 2-D array"),
], ids=["empty", "1-D"])
def test_bad_dictionary_parameters_are_named(make, name, bad, match, X):
    with pytest.raises(ValueError, match=f"^{name} {match}"):
        make(bad).fit(X)
    with pytest.raises(ValueError, match=f"^dictionary {match}"):
        sparse_encode(X, bad, device=DEVICE)


@pytest.mark.parametrize("cls", [
    Autoencoder, SparseAutoencoder, KSparseAutoencoder, DenoisingAutoencoder,
    ContractiveAutoencoder, PSDEncoder, LISTAEncoder,
], ids=lambda c: c.__name__)
def test_torch_estimators_say_where_thread_counts_change_the_last_bits(cls):
    doc = cls.__doc__.split("random_state :")[1].split("verbose :")[0]
    assert "thread count" in doc and "bit for bit" in doc


def test_float32_and_float64_online_learning_follow_one_path():
    """scikit-learn's own consistency case for MiniBatchDictionaryLearning: with tol=0
    every epoch runs, so the float32 fit does not stop where its objective stalls."""
    X = np.random.RandomState(0).randn(10, 8)
    recon = {}
    for dtype in (np.float32, np.float64):
        est = OnlineDictionaryLearner(n_components=4, max_iter=1000, alpha=1, batch_size=10,
                                      tol=0, random_state=0, device=DEVICE)
        with pytest.warns(ConvergenceWarning, match="max_iter=1000"):  # as MLPClassifier
            est.fit(X.astype(dtype))
        assert est.n_iter_ == 1000
        recon[dtype] = est.transform(X.astype(dtype)) @ est.components_
    np.testing.assert_allclose(recon[np.float32], recon[np.float64], rtol=1e-4, atol=1e-4)
