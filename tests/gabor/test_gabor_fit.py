"""Gabor fitting: recovery of synthetic Gabors and its robustness to the periodicities."""

import numpy as np
import pytest

from skl_sparse.gabor import fit_gabor, fit_gabor_dictionary, gabor_kernel


def _angle_error(a, b):
    d = abs(a - b) % np.pi
    return min(d, np.pi - d)


def _random_gabors(n, shape=(12, 12), seed=0):
    rng = np.random.RandomState(seed)
    cases = []
    for i in range(n):
        # a tenth of the cases within 2 degrees of 0 or of pi, where the angle wraps
        if i % 10 == 0:
            theta = rng.uniform(0, np.radians(2))
        elif i % 10 == 1:
            theta = np.pi - rng.uniform(1e-6, np.radians(2))
        else:
            theta = rng.uniform(0, np.pi)
        true = {
            "x0": rng.uniform(4, 7), "y0": rng.uniform(4, 7), "theta": theta,
            "frequency": rng.uniform(0.12, 0.3), "phase": rng.uniform(-np.pi, np.pi),
            "sigma_x": rng.uniform(2.0, 3.5), "sigma_y": rng.uniform(2.0, 3.5),
        }
        clean = gabor_kernel(shape, **true)
        noisy = clean + 0.1 * clean.std() * rng.randn(*shape)
        cases.append((true, noisy))
    return cases


def test_fit_gabor_recovers_200_synthetic_gabors():
    cases = _random_gabors(200)
    ok = 0
    for true, atom in cases:
        p = fit_gabor(atom)
        assert 0 <= p["theta"] < np.pi and -np.pi <= p["phase"] <= np.pi
        if np.degrees(_angle_error(p["theta"], true["theta"])) < 3 and p["r2"] > 0.9:
            ok += 1
    assert ok >= 0.95 * len(cases), ok


@pytest.mark.parametrize("theta", [0.0, 1e-3, np.pi - 1e-3, np.pi / 2])
@pytest.mark.parametrize("phase", [0.0, np.pi / 2, np.pi - 0.01, -2.0])
def test_exact_parameters_on_clean_gabors(theta, phase):
    true = {"x0": 5.3, "y0": 6.1, "theta": theta, "frequency": 0.21, "phase": phase,
            "sigma_x": 2.2, "sigma_y": 3.0}
    p = fit_gabor(gabor_kernel((12, 12), **true))
    assert p["r2"] > 0.9999
    assert _angle_error(p["theta"], theta) < 1e-4
    # theta and theta + pi describe the same Gabor with the phase negated
    flipped = abs(p["theta"] - theta) > np.pi / 2
    expected_phase = -phase if flipped else phase
    assert abs(np.angle(np.exp(1j * (p["phase"] - expected_phase)))) < 1e-3
    for name in ("x0", "y0", "frequency", "sigma_x", "sigma_y"):
        assert p[name] == pytest.approx(true[name], rel=1e-3)


def test_fit_gabor_dictionary_and_flat_atoms():
    cases = _random_gabors(6, seed=3)
    atoms = np.stack([atom.ravel() for _, atom in cases])
    params = fit_gabor_dictionary(atoms, (12, 12))
    assert set(params) >= {"theta", "frequency", "phase", "r2", "x0", "y0"}
    assert params["r2"].shape == (6,)
    single = fit_gabor(atoms[2])
    assert single["theta"] == pytest.approx(params["theta"][2])


def test_bad_atoms_are_rejected():
    with pytest.raises(ValueError, match="patch_shape"):
        fit_gabor(np.zeros(10))
    with pytest.raises(ValueError, match="NaN"):
        fit_gabor(np.full((5, 5), np.nan))
    with pytest.raises(ValueError, match="3x3"):
        fit_gabor(np.zeros((2, 8)))
