"""The 001 question as an experiment: can gradient descent learn a Gabor filter?

Images are convolved with a hidden Gabor filter; a Gabor filter started elsewhere is
trained (Adam on the mean squared output error) to reproduce the output. Every trial
is one output channel of one convolution, so hundreds of independent trials train at
once (Adam acts element-wise: the channels do not interact).
"""

import math
import time

import numpy as np
import torch

from ..datasets import load_natural_patches
from ..gabor import GaborDictionaryLearner, fit_gabor_dictionary
from ..nn import AngleGaborConv2d, GaborConv2d, angle_phase, angle_wave, free_wave, render_gabor
from ..preprocessing import ZCAWhitener
from ..sparse_coding import OnlineDictionaryLearner
from ._classification import _log, caltech101, self_taught

__all__ = ["gabor_analysis", "gabor_dictionary_comparison", "gabor_recovery", "recovery_images"]

RECOVERED_DEGREES = 3.0
FREQUENCY_RANGE = (0.1, 0.3)
SIGMA_RANGE = (1.5, 3.0)

# name -> (parameterisation, what is learned, normalize, coarse-to-fine)
METHODS = {
    "naive (theta only; f, phase, widths known)": ("angle", ("theta",), False, False),
    "naive (theta, f, phase, amplitude, widths)": ("angle", "all", False, False),
    "naive + normalisation + coarse-to-fine": ("angle", "all", True, True),
    "ours (wave vector, phase pair, log widths, centre)": ("wave", "all", False, False),
    "ours + normalisation + coarse-to-fine": ("wave", "all", True, True),
}


def recovery_images(n_images=8, image_size=40, random_state=0):
    """Crops of the bundled photographs, each standardised: shape (n, 1, size, size)."""
    crops = load_natural_patches(n_images, patch_size=(image_size, image_size),
                                 random_state=random_state)
    crops -= crops.mean(axis=1, keepdims=True)
    crops /= crops.std(axis=1, keepdims=True) + 1e-12
    return crops.reshape(n_images, 1, image_size, image_size)


def _orientation_error(theta, target):
    """Degrees between orientations modulo pi (a Gabor at theta + pi is the same filter)."""
    return np.degrees(np.abs(np.remainder(theta - target + np.pi / 2, np.pi) - np.pi / 2))


def _module(method, start, target, kernel_size, dtype, generator):
    kind, learn, normalize, _ = METHODS[method]
    n = len(start["theta"])
    if kind == "angle":
        # theta-only: the question's set-up, every other parameter at its target value
        known = learn != "all"
        src = target if known else start
        log_sigma = (np.log(np.stack([target["sigma_x"], target["sigma_y"]], 1)) if known
                     else np.full((n, 2), math.log(start["sigma"])))
        module = AngleGaborConv2d(n, kernel_size, start["theta"], src["frequency"],
                                  src["phase"], log_sigma, normalize=normalize, dtype=dtype)
        if known:
            for name, p in module.named_parameters():
                p.requires_grad_(name == "theta")
        return module
    module = GaborConv2d(1, n, kernel_size, bias=False, normalize=normalize,
                         sigma_init=start["sigma"], generator=generator, dtype=dtype)
    f, th, ph = (torch.as_tensor(start[key], dtype=dtype) for key in ("frequency", "theta",
                                                                      "phase"))
    with torch.no_grad():
        module.wave.copy_(free_wave(th, f).reshape(n, 1, 2))
        module.phase.copy_(angle_phase(ph).reshape(n, 1, 2))
        module.center.zero_()
    return module


def _train(module, images, target_out, n_steps, learning_rate, coarse_steps):
    """Adam on the mean squared output error; the orientation after each step."""
    scale = (target_out * target_out).mean(dim=(0, 2, 3))
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=learning_rate)
    widths = getattr(module, "log_sigma", None)
    learn_widths = widths is not None and widths.requires_grad
    history = []
    for step in range(n_steps):
        if learn_widths:
            widths.requires_grad_(step >= coarse_steps)
        opt.zero_grad(set_to_none=True)
        err = module(images) - target_out
        loss = ((err * err).mean(dim=(0, 2, 3)) / scale)
        loss.sum().backward()
        opt.step()
        history.append(_theta(module))
    return np.array(history), loss.detach().numpy()


def _theta(module):
    if isinstance(module, GaborConv2d):
        return module.theta[:, 0].numpy().copy()
    return np.remainder(module.theta.detach()[:, 0].numpy(), np.pi)


def _draw(n, rng):
    lo, hi = FREQUENCY_RANGE
    sx = rng.uniform(*SIGMA_RANGE, n)
    target = {"theta": rng.uniform(0, np.pi, n), "frequency": rng.uniform(lo, hi, n),
              "phase": rng.uniform(-np.pi, np.pi, n), "sigma_x": sx,
              "sigma_y": sx * rng.uniform(1.0, 1.5, n)}
    start = {"theta": rng.uniform(0, 2 * np.pi, n), "frequency": rng.uniform(lo, hi, n),
             "phase": rng.uniform(-np.pi, np.pi, n), "sigma": 1.0}
    return target, start


def _target_output(images, target, kernel_size):
    t = {k: torch.as_tensor(v, dtype=images.dtype) for k, v in target.items()}
    k = angle_wave(t["theta"], t["frequency"])
    pair = angle_phase(t["phase"])
    log_sigma = torch.log(torch.stack([t["sigma_x"], t["sigma_y"]], -1))
    kernels = render_gabor(k, pair, log_sigma, torch.zeros_like(k), kernel_size)
    return torch.nn.functional.conv2d(images, kernels[:, None])


def gabor_recovery(n_trials=200, *, methods=None, kernel_size=15, n_steps=600,
                   learning_rate=0.01, coarse_fraction=0.5, n_images=8, image_size=40,
                   target=None, start=None, random_state=0, verbose=1):
    """How often gradient descent recovers a hidden Gabor filter, per parameterisation.

    ``n_trials`` random targets (orientation uniform, frequency in [0.1, 0.3]
    cycles/pixel, random phase, widths 1.5-3 px, elongated up to 1.5x) and random
    starts (any orientation, frequency in the same range, random phase, widths 1 px)
    are trained for ``n_steps`` Adam steps on natural images. A filter is recovered
    when its orientation is within 3 degrees of the target's (modulo 180 degrees).

    Parameters
    ----------
    n_trials : int, default=200
    methods : list of str, default=None
        Keys of ``METHODS`` (all by default).
    kernel_size : int, default=15
    n_steps : int, default=600
    learning_rate : float, default=0.01
    coarse_fraction : float, default=0.5
        Fraction of the steps with the widths frozen, for the coarse-to-fine methods.
    n_images, image_size : int, default=8, 40
        Crops of the bundled photographs (`recovery_images`).
    target, start : dict of ndarray, default=None
        Fixed targets and starts (``theta``, ``frequency``, ``phase``, ``sigma_x``,
        ``sigma_y``; ``theta``, ``frequency``, ``phase``, ``sigma``) instead of random
        ones, e.g. the question's target at pi/4 started at -pi/4.
    random_state : int, default=0
    verbose : int, default=1

    Returns
    -------
    summary : str
    results : dict
        Per method: ``recovered`` (fraction), ``error`` (degrees, per trial), ``loss``
        (final relative squared error, per trial), ``theta`` and ``error_history``
        (orientation and its error after each step, shape ``(n_steps, n_trials)``).

    Examples
    --------
    >>> from skl_sparse.experiments import gabor_recovery
    >>> summary, res = gabor_recovery(4, n_steps=20, kernel_size=7, image_size=16,
    ...                               n_images=2, verbose=0)
    >>> sorted(res["ours + normalisation + coarse-to-fine"])
    ['error', 'error_history', 'loss', 'recovered', 'theta']
    """
    rng = np.random.RandomState(random_state)
    drawn = _draw(n_trials, rng)
    target, start = target or drawn[0], start or drawn[1]
    dtype = torch.float64
    images = torch.as_tensor(recovery_images(n_images, image_size, random_state), dtype=dtype)
    target_out = _target_output(images, target, (kernel_size, kernel_size))
    results, lines = {}, []
    for method in methods or list(METHODS):
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(random_state)
        module = _module(method, start, target, (kernel_size, kernel_size), dtype, generator)
        coarse = int(coarse_fraction * n_steps) if METHODS[method][3] else 0
        history, loss = _train(module, images, target_out, n_steps, learning_rate, coarse)
        errors = _orientation_error(history, target["theta"])
        error = errors[-1]
        results[method] = {"recovered": float(np.mean(error < RECOVERED_DEGREES)),
                           "error": error, "loss": loss, "theta": history,
                           "error_history": errors}
        lines.append(f"{method:<52}{100 * results[method]['recovered']:>12.1f}"
                     f"{np.median(error):>18.3g}{np.median(loss):>18.2e}")
        if verbose:
            print(f"  {lines[-1]} ({time.perf_counter() - t0:.1f} s)", flush=True)
    header = (f"Gabor filter recovery: {len(target['theta'])} random targets and starts, "
              f"{n_steps} Adam steps, {kernel_size}x{kernel_size} kernels on {n_images} "
              f"natural {image_size}x{image_size} crops\n"
              f"{'parameterisation':<52}{'recovered %':>12}{'median err (deg)':>18}"
              f"{'median rel. loss':>18}")
    return "\n".join([header, *lines]), results


def gabor_dictionary_comparison(n_components=100, *, alpha=0.1, n_patches=20000, n_test=4000,
                                max_iter=10, accuracies=True, random_state=0, verbose=1):
    """Gabor atoms (8 parameters each) against free atoms on whitened natural patches.

    Both :class:`~skl_sparse.GaborDictionaryLearner` and
    :class:`~skl_sparse.OnlineDictionaryLearner` learn ``n_components`` atoms on
    ``n_patches`` ZCA-whitened 12x12 patches of the bundled photographs (DC removed,
    scaled to unit mean squared norm); the held-out lasso objective is measured on
    ``n_test`` other patches. With ``accuracies``, the self-taught (digits) and
    stand-in object-recognition tables are run with both patch dictionaries
    (``gabor=True`` of :func:`~skl_sparse.experiments.self_taught` and
    :func:`~skl_sparse.experiments.caltech101`).

    Returns
    -------
    summary : str
    results : dict
        ``objective``, ``seconds`` and ``parameters`` (per atom) per learner, and
        the accuracy ``rows`` of both tables when ``accuracies``.

    Examples
    --------
    >>> from skl_sparse.experiments import gabor_dictionary_comparison
    >>> summary, res = gabor_dictionary_comparison(8, n_patches=500, n_test=100, max_iter=1,
    ...                                            accuracies=False, verbose=0)
    >>> sorted(res["objective"])
    ['Free atoms (OnlineDictionaryLearner)', 'Gabor atoms (GaborDictionaryLearner)']
    """
    patches = load_natural_patches(n_patches + n_test, patch_size=(12, 12),
                                   random_state=random_state)
    patches -= patches.mean(axis=1, keepdims=True)
    X = ZCAWhitener(eps=1.0).fit(patches[:n_patches]).transform(patches)
    X /= np.sqrt((X[:n_patches] ** 2).sum(axis=1).mean())
    X_train, X_test = X[:n_patches], X[n_patches:]
    common = {"alpha": alpha, "max_iter": max_iter, "random_state": random_state}
    learners = {
        "Free atoms (OnlineDictionaryLearner)": (OnlineDictionaryLearner(n_components, **common),
                                                 X.shape[1]),
        "Gabor atoms (GaborDictionaryLearner)": (GaborDictionaryLearner(n_components, **common),
                                                 8),
    }
    results = {"objective": {}, "seconds": {}, "parameters": {}}
    lines = [f"{n_components} atoms on {n_patches} whitened 12x12 natural patches (alpha={alpha}, "
             f"{max_iter} epochs); lasso objective on {n_test} held-out patches",
             f"{'dictionary':<40}{'params/atom':>12}{'held-out obj.':>15}{'fit (s)':>9}"]
    for name, (learner, n_params) in learners.items():
        t0 = time.perf_counter()
        learner.fit(X_train)
        results["seconds"][name] = time.perf_counter() - t0
        results["objective"][name] = -learner.score(X_test)
        results["parameters"][name] = n_params
        lines.append(f"{name:<40}{n_params:>12}{results['objective'][name]:>15.4f}"
                     f"{results['seconds'][name]:>9.1f}")
        if verbose:
            print(f"  {lines[-1]}", flush=True)
    if accuracies:
        for key, run in (("self-taught", self_taught), ("stand-in", caltech101)):
            table, results[key] = run(gabor=True, random_state=random_state, verbose=verbose)
            lines += ["", table]
    return "\n".join(lines), results


def gabor_analysis(*, n_patches=20000, n_components=100, alpha=0.3, max_iter=5,
                   random_state=0, output=None, verbose=1):
    """V1-like atoms: dictionary on whitened 12x12 natural patches, a Gabor fit per atom.

    Parameters
    ----------
    n_patches, n_components, alpha, max_iter : learning setting of the dictionary
        (``OnlineDictionaryLearner`` on ``ZCAWhitener(eps=1.0)`` patches, DC removed).
    random_state : int, default=0
    output : str, default=None
        PNG with the atoms and the orientation/frequency/position statistics.
    verbose : int, default=1

    Returns
    -------
    summary : str
    params : dict of ndarray
        The fitted Gabor parameters (see :func:`skl_sparse.gabor.fit_gabor_dictionary`).

    Examples
    --------
    >>> from skl_sparse.experiments import gabor_analysis
    >>> summary, params = gabor_analysis(n_patches=2000, n_components=8, max_iter=1,
    ...                                  verbose=0)
    >>> params["r2"].shape
    (8,)
    """
    t0 = time.perf_counter()
    patches = load_natural_patches(n_patches, patch_size=(12, 12), random_state=random_state)
    patches -= patches.mean(axis=1, keepdims=True)
    X = ZCAWhitener(eps=1.0).fit_transform(patches)
    D = OnlineDictionaryLearner(n_components, alpha=alpha, max_iter=max_iter,
                                random_state=random_state).fit(X).components_
    _log(verbose, f"dictionary: {n_components} atoms ({time.perf_counter() - t0:.1f} s)")
    params = fit_gabor_dictionary(D, (12, 12))
    good = params["r2"] >= 0.8
    summary = (f"Gabor fits of {n_components} atoms learned on whitened 12x12 natural patches: "
               f"{good.mean():.0%} with R^2 >= 0.8 (median R^2 {np.median(params['r2']):.3f}); "
               f"orientations of those: {np.histogram(params['theta'][good], 4, (0, np.pi))[0]}"
               f" per 45-degree bin")
    if output:
        import matplotlib.pyplot as plt

        from ..plotting import plot_atoms, plot_gabor_statistics

        fig = plt.figure(figsize=(12, 7.5), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.2, 1])
        plot_atoms(D, (12, 12), ax=top.subplots(), title="atoms (ZCA-whitened patches)")
        plot_gabor_statistics(params, (12, 12), fig=bottom)
        fig.savefig(output, dpi=110)
        plt.close(fig)
    return summary, params
