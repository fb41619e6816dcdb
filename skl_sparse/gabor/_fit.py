r"""Gabor analysis of learned atoms: fit a Gabor function to each filter.

A real Gabor function on the pixel grid is

.. math:: g(x, y) = e^{-\frac{x'^2}{2\sigma_x^2} - \frac{y'^2}{2\sigma_y^2}}
          \left(a \cos(2\pi f x') + b \sin(2\pi f x')\right) + c,

with :math:`x' = (x - x_0)\cos\theta + (y - y_0)\sin\theta` (across the stripes),
:math:`y' = -(x - x_0)\sin\theta + (y - y_0)\cos\theta` (along them); the amplitude is
:math:`\sqrt{a^2 + b^2}` and the phase :math:`\varphi = \mathrm{atan2}(-b, a)`, so that
the carrier is :math:`A\cos(2\pi f x' + \varphi)`.

Fitting :math:`\theta` by gradient descent on the raw angle is known to cycle and fail
(the loss is periodic in :math:`\theta` and in the phase, with many local minima). The fit
here avoids both periodicities:

* the phase never appears as a nonlinear parameter: for fixed position, wave vector and
  envelope, :math:`(a, b, c)` are solved exactly by linear least squares (variable
  projection), so every phase is reached;
* orientation and frequency are optimised together as the wave vector
  :math:`k = f(\cos\theta, \sin\theta) \in \mathbb{R}^2`, which has no wrap-around;
  :math:`\theta = \mathrm{atan2}(k_y, k_x) \bmod \pi` is read off at the end (the phase is
  flipped with :math:`k \to -k`);
* starting points come from the peaks of the atom's Fourier spectrum (orientation and
  frequency) and from its energy-weighted centroid and spread (position, envelope), with
  several starts over orientation; the best least-squares fit wins.
"""

from numbers import Integral

import numpy as np
from scipy.optimize import least_squares

__all__ = ["gabor_kernel", "fit_gabor", "fit_gabor_dictionary"]

_FIELDS = ("x0", "y0", "theta", "frequency", "phase", "sigma_x", "sigma_y", "amplitude",
           "offset", "r2")


def gabor_kernel(shape, *, x0, y0, theta, frequency, phase=0.0, sigma_x, sigma_y,
                 amplitude=1.0, offset=0.0):
    r"""Real Gabor function sampled on a ``shape = (height, width)`` pixel grid.

    Parameters
    ----------
    shape : tuple of int
        ``(height, width)``; pixel ``(row, col)`` has coordinates ``(y, x) = (row, col)``.
    x0, y0 : float
        Centre of the envelope (column, row coordinates).
    theta : float
        Orientation of the wave vector (radians): the stripes run at ``theta + pi/2``.
    frequency : float
        Spatial frequency, cycles per pixel.
    phase : float, default=0
        Phase :math:`\varphi` of the carrier :math:`\cos(2\pi f x' + \varphi)`.
    sigma_x, sigma_y : float
        Envelope widths across and along the stripes (pixels).
    amplitude, offset : float
        Scale and constant added.

    Returns
    -------
    kernel : ndarray of shape ``shape``

    Examples
    --------
    >>> from skl_sparse.gabor import gabor_kernel
    >>> k = gabor_kernel((12, 12), x0=5.5, y0=5.5, theta=0.3, frequency=0.2,
    ...                  sigma_x=2.0, sigma_y=3.0)
    >>> k.shape
    (12, 12)
    """
    xp, yp = _rotated_grid(shape, x0, y0, theta)
    env = np.exp(-0.5 * ((xp / sigma_x) ** 2 + (yp / sigma_y) ** 2))
    return amplitude * env * np.cos(2 * np.pi * frequency * xp + phase) + offset


def _rotated_grid(shape, x0, y0, theta):
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(float)
    dx, dy = xx - x0, yy - y0
    c, s = np.cos(theta), np.sin(theta)
    return dx * c + dy * s, -dx * s + dy * c


def _design(shape, p):
    """Columns (env cos, env sin, 1) for nonlinear parameters p = (x0, y0, kx, ky, ls_x, ls_y)."""
    x0, y0, kx, ky, lsx, lsy = p
    f = np.hypot(kx, ky)
    theta = np.arctan2(ky, kx)
    xp, yp = _rotated_grid(shape, x0, y0, theta)
    env = np.exp(-0.5 * ((xp * np.exp(-lsx)) ** 2 + (yp * np.exp(-lsy)) ** 2))
    arg = 2 * np.pi * f * xp
    return np.stack([(env * np.cos(arg)).ravel(), (env * np.sin(arg)).ravel(),
                     np.ones(env.size)], axis=1)


def _solve_linear(M, target):
    coef, *_ = np.linalg.lstsq(M, target, rcond=None)
    return coef


def _residual(p, shape, target):
    M = _design(shape, p)
    return M @ _solve_linear(M, target) - target


def _spectrum_peaks(atom, n_peaks, pad=64):
    """Wave vectors (kx, ky) at the largest peaks of the zero-padded power spectrum."""
    h, w = atom.shape
    spec = np.abs(np.fft.fft2(atom - atom.mean(), s=(max(pad, h), max(pad, w)))) ** 2
    fy = np.fft.fftfreq(spec.shape[0])[:, None] * np.ones((1, spec.shape[1]))
    fx = np.fft.fftfreq(spec.shape[1])[None, :] * np.ones((spec.shape[0], 1))
    half = (fx > 0) | ((fx == 0) & (fy > 0))  # one of each +-k pair, DC excluded
    order = np.argsort(np.where(half, spec, -1.0).ravel())[::-1]
    peaks = []
    for idx in order:
        k = np.array([fx.flat[idx], fy.flat[idx]])
        if all(np.hypot(*(k - q)) > 1.5 / spec.shape[0] for q in peaks):
            peaks.append(k)
        if len(peaks) == n_peaks:
            break
    return peaks


def _moments(atom):
    """Energy-weighted centroid and spread of the atom (envelope start)."""
    e = (atom - atom.mean()) ** 2
    e = e / max(e.sum(), 1e-300)
    yy, xx = np.mgrid[: atom.shape[0], : atom.shape[1]]
    x0, y0 = (e * xx).sum(), (e * yy).sum()
    spread = np.sqrt(max((e * ((xx - x0) ** 2 + (yy - y0) ** 2)).sum() / 2, 0.25))
    return x0, y0, spread


def fit_gabor(atom, patch_shape=None, *, n_starts=4):
    """Least-squares Gabor fit of one filter.

    Parameters
    ----------
    atom : array-like of shape (height, width) or (height * width,)
        The filter (e.g. a row of ``components_``).
    patch_shape : tuple of int, default=None
        ``(height, width)`` when ``atom`` is flat (square patches are inferred).
    n_starts : int, default=4
        Spectral peaks used as starting orientations/frequencies (each also tried at
        +-22.5 degrees).

    Returns
    -------
    params : dict
        ``x0, y0`` (envelope centre, column/row), ``theta`` (orientation of the wave
        vector in [0, pi)), ``frequency`` (cycles/pixel), ``phase`` (in (-pi, pi]),
        ``sigma_x, sigma_y`` (envelope widths across/along the stripes), ``amplitude``,
        ``offset`` and ``r2``, the fraction of the atom's variance explained.

    Examples
    --------
    >>> from skl_sparse.gabor import fit_gabor, gabor_kernel
    >>> atom = gabor_kernel((12, 12), x0=6.0, y0=5.0, theta=2.0, frequency=0.2, phase=1.0,
    ...                     sigma_x=2.0, sigma_y=2.5)
    >>> p = fit_gabor(atom)
    >>> round(p["theta"], 3), round(p["frequency"], 3), round(p["r2"], 3)
    (2.0, 0.2, 1.0)
    """
    if isinstance(n_starts, bool) or not isinstance(n_starts, Integral) or n_starts < 1:
        raise ValueError(f"n_starts must be a positive integer; got {n_starts!r}.")
    atom = _check_atom(atom, patch_shape)
    # the fit is scale-invariant: fit the atom scaled to unit peak (no overflow in the
    # squared residuals of huge atoms), then scale the amplitude and offset back
    scale = float(np.abs(atom).max()) or 1.0
    atom = atom / scale
    shape, target = atom.shape, atom.ravel()
    x0, y0, spread = _moments(atom)
    size = max(shape)
    lo = [-0.5 * size, -0.5 * size, -0.5, -0.5, np.log(0.3), np.log(0.3)]
    hi = [1.5 * size, 1.5 * size, 0.5, 0.5, np.log(2.0 * size), np.log(2.0 * size)]
    best = None
    for k in _spectrum_peaks(atom, n_starts):
        f, th = np.hypot(*k), np.arctan2(k[1], k[0])
        for dth in (0.0, np.pi / 8, -np.pi / 8):
            p0 = [x0, y0, f * np.cos(th + dth), f * np.sin(th + dth), np.log(spread),
                  np.log(spread)]
            p0 = np.clip(p0, np.add(lo, 1e-9), np.subtract(hi, 1e-9))
            res = least_squares(_residual, p0, bounds=(lo, hi), args=(shape, target),
                                x_scale="jac", max_nfev=200)
            if best is None or res.cost < best.cost:
                best = res
    params = _params(best.x, shape, target)
    params["amplitude"] *= scale
    params["offset"] *= scale
    return params


def _check_atom(atom, patch_shape):
    """The atom as a finite, real 2-D float array of at least 3x3 pixels (a flat one
    reshaped to ``patch_shape``, square if None)."""
    atom = np.asarray(atom)
    if np.iscomplexobj(atom):
        raise ValueError("atom must be real; got a complex array.")
    atom = atom.astype(float)
    if atom.ndim == 1:
        if patch_shape is None:
            side = int(round(np.sqrt(atom.size)))
            if side * side != atom.size:
                raise ValueError("patch_shape is needed for a flat, non-square atom.")
            patch_shape = (side, side)
        atom = atom.reshape(patch_shape)
    if atom.ndim != 2 or min(atom.shape) < 3:
        raise ValueError(f"atom must be a 2-D patch of at least 3x3 pixels; got {atom.shape}.")
    if not np.all(np.isfinite(atom)):
        raise ValueError("atom contains NaN or infinity.")
    return atom


def _params(p, shape, target):
    M = _design(shape, p)
    a, b, c = _solve_linear(M, target)
    x0, y0, kx, ky, lsx, lsy = p
    theta, phase = np.arctan2(ky, kx), np.arctan2(-b, a)
    if theta < 0:  # the same Gabor with k -> -k: x' changes sign, so does the phase
        theta, phase = theta + np.pi, -phase
    if theta >= np.pi:
        theta, phase = theta - np.pi, -phase
    ss_res = float(((M @ np.array([a, b, c]) - target) ** 2).sum())
    ss_tot = float(((target - target.mean()) ** 2).sum())
    return {
        "x0": float(x0), "y0": float(y0), "theta": float(theta),
        "frequency": float(np.hypot(kx, ky)), "phase": float(np.angle(np.exp(1j * phase))),
        "sigma_x": float(np.exp(lsx)), "sigma_y": float(np.exp(lsy)),
        "amplitude": float(np.hypot(a, b)), "offset": float(c),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0,
    }


def fit_gabor_dictionary(components, patch_shape, *, n_starts=4, n_jobs=None):
    """`fit_gabor` on every row of ``components``.

    Parameters
    ----------
    components : array-like of shape (n_atoms, height * width)
    patch_shape : tuple of int
        ``(height, width)``.
    n_starts : int, default=4
    n_jobs : int, default=None
        Parallel jobs (joblib).

    Returns
    -------
    params : dict of ndarray
        One array of length ``n_atoms`` per field of `fit_gabor`.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse.gabor import fit_gabor_dictionary, gabor_kernel
    >>> atoms = np.stack([gabor_kernel((10, 10), x0=4.5, y0=4.5, theta=t, frequency=0.2,
    ...                                sigma_x=2.0, sigma_y=2.0).ravel() for t in (0.5, 2.0)])
    >>> params = fit_gabor_dictionary(atoms, (10, 10))
    >>> np.round(params["theta"], 3).tolist()
    [0.5, 2.0]
    """
    from joblib import Parallel, delayed

    components = np.asarray(components, dtype=float)
    fits = Parallel(n_jobs=n_jobs)(
        delayed(fit_gabor)(atom, patch_shape, n_starts=n_starts) for atom in components
    )
    return {name: np.array([f[name] for f in fits]) for name in _FIELDS}
