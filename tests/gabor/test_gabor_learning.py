"""Learnable Gabor filters: the torch layer, the 001 recovery experiment, the dictionary."""

import math
import pickle

import numpy as np
import pytest
import torch
from _config import DEVICE
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skl_sparse import GaborDictionaryLearner, OnlineDictionaryLearner, ZCAWhitener
from skl_sparse.experiments._gabor import METHODS, gabor_recovery
from skl_sparse.gabor import gabor_kernel
from skl_sparse.nn import GaborConv2d, gabor_filters, gabor_readout, init_gabor_parameters


def _random_parameters(n, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    wave, phase, log_sigma, center = init_gabor_parameters(
        n, shape, spread=0.6, generator=g, dtype=torch.float64)
    log_sigma = log_sigma + torch.rand(n, 2, generator=g, dtype=torch.float64)
    return wave, 1.7 * phase, log_sigma, center


def test_filters_are_the_gabor_kernels_of_their_readout():
    shape = (11, 13)
    params = _random_parameters(6, shape)
    filters = gabor_filters(*params, shape)
    read = gabor_readout(*params, shape)
    for i in range(6):
        expected = gabor_kernel(shape, **{k: float(v[i]) for k, v in read.items()})
        np.testing.assert_allclose(filters[i].numpy(), expected, atol=1e-10)
    assert torch.all((read["theta"] >= 0) & (read["theta"] < math.pi))
    assert torch.all(read["frequency"] < 0.5)


def test_opposite_wave_vector_with_negated_sine_is_the_same_filter():
    wave, phase, log_sigma, center = _random_parameters(4, (9, 9), seed=1)
    flipped = phase * torch.tensor([1.0, -1.0], dtype=torch.float64)
    a = gabor_filters(wave, phase, log_sigma, center, (9, 9))
    b = gabor_filters(-wave, flipped, log_sigma, center, (9, 9))
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)
    ra, rb = gabor_readout(wave, phase, log_sigma, center, (9, 9)), gabor_readout(
        -wave, flipped, log_sigma, center, (9, 9))
    for key in ("theta", "frequency", "phase", "amplitude"):
        np.testing.assert_allclose(ra[key].numpy(), rb[key].numpy(), atol=1e-12)


def test_gabor_conv_is_a_conv2d_with_eight_parameters_per_kernel():
    conv = GaborConv2d(3, 5, (7, 9), padding=2, bias=True, device=DEVICE,
                       generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 20, 21, device=DEVICE)
    ref = torch.nn.functional.conv2d(x, conv.kernels(), conv.bias, padding=2)
    torch.testing.assert_close(conv(x), ref)
    assert conv(x).shape == (2, 5, 18, 17)
    assert sum(p.numel() for p in conv.parameters()) == 5 * 3 * 8 + 5
    conv(x).square().sum().backward()
    for name, p in conv.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert conv.theta.shape == conv.frequency.shape == conv.phase_angle.shape == (5, 3)
    assert conv.sigma.shape == (5, 3, 2)


def test_gabor_conv_initialisation_is_seeded_by_its_generator():
    a = GaborConv2d(1, 4, 5, generator=torch.Generator().manual_seed(3))
    b = GaborConv2d(1, 4, 5, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a.kernels(), b.kernels())
    assert torch.all((a.frequency >= 0.05 - 1e-6) & (a.frequency <= 0.4 + 1e-6))


def test_normalized_output_has_the_amplitude_as_its_rms():
    conv = GaborConv2d(1, 3, 7, bias=False, normalize=True, momentum=1.0,
                       generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        conv.phase.mul_(torch.tensor([0.5, 2.0, 3.0])[:, None, None])
    x = torch.randn(4, 1, 24, 24)
    out = conv(x)
    rms = out.square().mean(dim=(0, 2, 3)).sqrt()
    torch.testing.assert_close(rms, conv.amplitude[:, 0], rtol=1e-4, atol=1e-6)
    conv.eval()  # the running RMS (momentum 1: the last batch's) is used
    torch.testing.assert_close(conv(x), out)


@pytest.mark.parametrize("kwargs, name", [
    ({"in_channels": 0}, "in_channels"),
    ({"kernel_size": (3, 0)}, "kernel_size"),
    ({"frequency_init": (0.1, 0.6)}, "frequency_init"),
    ({"sigma_init": 0.0}, "sigma_init"),
])
def test_gabor_conv_rejects_invalid_arguments(kwargs, name):
    args = {"in_channels": 1, "out_channels": 2, "kernel_size": 5, **kwargs}
    with pytest.raises(ValueError, match=name):
        GaborConv2d(**args)


def test_001_experiment_target_at_45_degrees_started_at_minus_45():
    """The question's set-up: hidden filter at theta = pi/4, training starts at -pi/4."""
    target = {"theta": np.array([np.pi / 4]), "frequency": np.array([0.2]),
              "phase": np.array([0.0]), "sigma_x": np.array([2.0]), "sigma_y": np.array([2.0])}
    start = {"theta": np.array([-np.pi / 4]), "frequency": np.array([0.2]),
             "phase": np.array([0.0]), "sigma": 1.0}
    ours = "ours + normalisation + coarse-to-fine"
    _, res = gabor_recovery(1, methods=[ours], target=target, start=start, kernel_size=11,
                            image_size=28, n_images=4, n_steps=400, verbose=0)
    assert res[ours]["error"][0] < 0.5
    assert res[ours]["loss"][0] < 1e-3


def test_001_experiment_ours_recovers_random_filters_the_naive_angle_does_not():
    naive, ours = list(METHODS)[0], list(METHODS)[-1]
    summary, res = gabor_recovery(60, methods=[naive, ours], kernel_size=11, image_size=28,
                                  n_images=4, n_steps=400, verbose=0)
    assert res[ours]["recovered"] >= 0.9, summary
    assert res[naive]["recovered"] <= 0.8, summary
    assert res[ours]["theta"].shape == (400, 60)


def _planted_data(n_samples=2000, seed=0):
    """Sparse combinations of 6 known Gabor atoms on 10x10 patches, and those atoms."""
    rng = np.random.RandomState(seed)
    thetas = np.arange(6) * np.pi / 6
    atoms = np.stack([gabor_kernel((10, 10), x0=4.5, y0=4.5, theta=t, frequency=0.2,
                                   phase=0.5 * i, sigma_x=2.0, sigma_y=2.5).ravel()
                      for i, t in enumerate(thetas)])
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = rng.randn(n_samples, 6) * (rng.rand(n_samples, 6) < 0.3)
    return codes @ atoms + 0.01 * rng.randn(n_samples, 100), atoms, thetas


def test_gabor_dictionary_recovers_planted_gabor_atoms():
    X, atoms, thetas = _planted_data()
    gdl = GaborDictionaryLearner(6, alpha=0.05, max_iter=6, batch_size=100, tol=0,
                                 random_state=0, device="cpu").fit(X)
    cos = np.abs(atoms @ gdl.components_.T)
    best = cos.argmax(axis=1)
    assert cos.max(axis=1).min() > 0.95, cos.max(axis=1)
    err = np.degrees(np.abs(np.remainder(gdl.theta_[best] - thetas + np.pi / 2, np.pi)
                            - np.pi / 2))
    assert err.max() < 5, err
    np.testing.assert_allclose(gdl.frequency_[best], 0.2, atol=0.02)


def test_gabor_dictionary_attributes_describe_its_atoms():
    X, _, _ = _planted_data(600)
    gdl = GaborDictionaryLearner(5, patch_shape=(10, 10), alpha=0.05, max_iter=2,
                                 random_state=0, device=DEVICE).fit(X)
    assert gdl.parameters_.shape == (5, 8)
    np.testing.assert_allclose(np.linalg.norm(gdl.components_, axis=1), 1.0, rtol=1e-10)
    for j in range(5):
        atom = gabor_kernel((10, 10), x0=gdl.center_[j, 0], y0=gdl.center_[j, 1],
                            theta=gdl.theta_[j], frequency=gdl.frequency_[j],
                            phase=gdl.phase_[j], sigma_x=gdl.sigma_[j, 0],
                            sigma_y=gdl.sigma_[j, 1]).ravel()
        np.testing.assert_allclose(atom / np.linalg.norm(atom), gdl.components_[j], atol=1e-8)


def test_gabor_dictionary_partial_fit_continues_exactly():
    X, _, _ = _planted_data(400)
    params = {"n_components": 4, "alpha": 0.05, "batch_size": 50, "random_state": 0,
              "device": DEVICE}
    whole = GaborDictionaryLearner(max_iter=1, shuffle=False, **params).fit(X)
    parts = GaborDictionaryLearner(**params)
    parts.partial_fit(X[:200])
    parts = pickle.loads(pickle.dumps(parts))
    parts.partial_fit(X[200:])
    np.testing.assert_allclose(parts.components_, whole.components_, atol=1e-12)
    np.testing.assert_allclose(parts.parameters_, whole.parameters_, atol=1e-12)
    assert parts.n_steps_ == whole.n_steps_ == 8


def test_gabor_dictionary_rejects_a_patch_shape_that_does_not_fit():
    X = np.random.RandomState(0).randn(20, 12)
    with pytest.raises(ValueError, match="patch_shape"):
        GaborDictionaryLearner(3, patch_shape=(3, 5), device="cpu").fit(X)
    # a non-square width: one row of pixels
    gdl = GaborDictionaryLearner(3, max_iter=1, device="cpu", random_state=0).fit(X)
    j = 0
    atom = gabor_kernel((1, 12), x0=gdl.center_[j, 0], y0=gdl.center_[j, 1], theta=gdl.theta_[j],
                        frequency=gdl.frequency_[j], phase=gdl.phase_[j],
                        sigma_x=gdl.sigma_[j, 0], sigma_y=gdl.sigma_[j, 1]).ravel()
    np.testing.assert_allclose(atom / np.linalg.norm(atom), gdl.components_[j], atol=1e-8)


def test_gabor_dictionary_competes_with_free_atoms_on_natural_patches():
    """8 parameters per atom instead of 64: a held-out objective within 5% of free atoms."""
    from skl_sparse.datasets import load_natural_patches

    P = load_natural_patches(5000, patch_size=(8, 8), random_state=0)
    P -= P.mean(axis=1, keepdims=True)
    X = make_pipeline(ZCAWhitener(eps=1.0)).fit(P[:4000]).transform(P)
    X /= np.sqrt((X[:4000] ** 2).sum(1).mean())
    common = {"alpha": 0.1, "max_iter": 3, "tol": 0, "random_state": 0, "device": "cpu"}
    free = OnlineDictionaryLearner(32, **common).fit(X[:4000])
    gabor = clone(GaborDictionaryLearner(32, **common)).fit(X[:4000])
    zero = 0.5 * (X[4000:] ** 2).sum(1).mean()
    assert -gabor.score(X[4000:]) < 1.05 * -free.score(X[4000:]) < zero
