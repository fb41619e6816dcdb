r"""Gabor-parameterised filters as torch modules: ``GaborConv2d``.

A real Gabor filter on the pixel grid, with :math:`d = (x - x_0, y - y_0)` the offset
from its centre and :math:`k \in \mathbb{R}^2` its wave vector (cycles per pixel), is

.. math::
    g(d) = e^{-\frac{x'^2}{2\sigma_x^2} - \frac{y'^2}{2\sigma_y^2}}
           \left(a\cos(2\pi\, k\cdot d) + b\sin(2\pi\, k\cdot d)\right),
    \qquad x'^2 = \frac{(k\cdot d)^2}{\lVert k\rVert^2},\;
    y'^2 = \lVert d\rVert^2 - x'^2,

so that :math:`x'` runs across the stripes and :math:`y'` along them. Its eight
parameters are chosen so that gradient descent meets no periodic or boundary trap:

* the wave vector instead of an orientation :math:`\theta` and a frequency :math:`f`
  (:math:`k = f(\cos\theta, \sin\theta)`): it has no wrap-around, and rotating the
  filter is a straight path in :math:`k`. It is written
  :math:`k = f_{\max} \tanh(\lVert u\rVert)\, u / \lVert u\rVert` with :math:`u` free, so
  the frequency stays below Nyquist (:math:`f_{\max} = 1/2`): above it the sampled
  carrier aliases, a second periodicity;
* the phase as the pair :math:`(a, b)`, on which the filter depends linearly (no
  :math:`2\pi` wrap, and no coupling with the orientation: :math:`k \to -k` with
  :math:`b \to -b` is the same filter). The amplitude is :math:`\sqrt{a^2 + b^2}`;
* log-widths :math:`\log\sigma_x, \log\sigma_y` (no positivity boundary) and the centre
  offset :math:`(x_0, y_0)` from the kernel's middle.

The explicit read-out (`gabor_readout`) gives :math:`\theta = \mathrm{atan2}(k_y, k_x)
\bmod \pi`, :math:`f = \lVert k\rVert`, the phase :math:`\varphi = \mathrm{atan2}(-b, a)` of
:math:`A\cos(2\pi f x' + \varphi)` (the convention of :func:`skl_sparse.gabor.gabor_kernel`,
whose kernels these are), the widths, the centre and the amplitude.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "AngleGaborConv2d",
    "GaborConv2d",
    "gabor_filters",
    "gabor_readout",
    "init_gabor_parameters",
]

MAX_FREQUENCY = 0.5  # cycles per pixel: Nyquist
_K2_EPS = 1e-12  # |k|^2 floor: at k = 0 the envelope is round (sigma_y) and smooth
_MIN_LOG_SIGMA = math.log(1e-3)  # envelope widths, in pixels: a point below this


def wave_vector(u, max_frequency=MAX_FREQUENCY):
    """Wave vector :math:`k = f_{\\max}\\tanh(|u|)\\,u/|u|` of the free parameter ``u`` (..., 2)."""
    r = torch.sqrt((u * u).sum(-1, keepdim=True) + 1e-24)
    return u * (max_frequency * torch.tanh(r) / r)


def angle_wave(theta, frequency):
    """The wave vector ``k = f (cos theta, sin theta)`` (..., 2) of orientations and
    frequencies (tensors)."""
    return torch.stack([torch.cos(theta), torch.sin(theta)], dim=-1) * frequency[..., None]


def free_wave(theta, frequency, max_frequency=MAX_FREQUENCY):
    """The free parameter ``u`` of `wave_vector` whose wave vector has orientation
    ``theta`` and frequency ``frequency`` (below ``max_frequency``)."""
    r = torch.atanh(frequency / max_frequency)
    return torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=-1)


def angle_phase(phase):
    """The phase pair ``(a, b) = (cos phi, -sin phi)`` of the carrier
    ``cos(2 pi k.d + phi)`` (unit amplitude)."""
    return torch.stack([torch.cos(phase), -torch.sin(phase)], dim=-1)


def _grid(shape, dtype, device):
    """Pixel offsets from the kernel's middle: ``(dx, dy)``, each of shape ``shape``."""
    h, w = shape
    ys = torch.arange(h, dtype=dtype, device=device) - (h - 1) / 2
    xs = torch.arange(w, dtype=dtype, device=device) - (w - 1) / 2
    return xs[None, :].expand(h, w), ys[:, None].expand(h, w)


def gabor_filters(wave, phase, log_sigma, center, shape, *, max_frequency=MAX_FREQUENCY):
    r"""Gabor filters rendered from their parameters (no validation: callers validate).

    Parameters
    ----------
    wave, phase, log_sigma, center : tensors of shape (..., 2)
        Free wave-vector parameter :math:`u`, phase pair :math:`(a, b)`,
        :math:`(\log\sigma_x, \log\sigma_y)` (widths below 0.001 pixel render as
        0.001) and the centre's offset :math:`(x_0, y_0)` from the kernel's middle, in
        pixels.
    shape : tuple of int
        ``(height, width)`` of the kernels.
    max_frequency : float, default=0.5
        :math:`f_{\max}`, cycles per pixel.

    Returns
    -------
    filters : tensor of shape (..., height, width)

    Examples
    --------
    >>> import torch
    >>> from skl_sparse.nn import gabor_filters
    >>> p = torch.zeros(3, 2)
    >>> gabor_filters(p + 0.5, p + 1.0, p, p, (7, 7)).shape
    torch.Size([3, 7, 7])
    """
    return render_gabor(wave_vector(wave, max_frequency), phase, log_sigma, center, shape)


def render_gabor(k, phase, log_sigma, center, shape):
    """`gabor_filters` from the wave vector ``k`` itself (cycles/pixel, unbounded)."""
    dx, dy = _grid(shape, k.dtype, k.device)
    ex = lambda t: t[..., None, None]  # noqa: E731  (..., 1, 1): broadcast over the grid
    dx = dx - ex(center[..., 0])
    dy = dy - ex(center[..., 1])
    kd = ex(k[..., 0]) * dx + ex(k[..., 1]) * dy
    k2 = ex((k * k).sum(-1)) + _K2_EPS
    # widths below a thousandth of a pixel render as the same point (1/sigma^2 would
    # overflow to inf, and inf - inf to NaN)
    log_sigma = torch.clamp(log_sigma, min=_MIN_LOG_SIGMA)
    inv_x, inv_y = ex(torch.exp(-2 * log_sigma[..., 0])), ex(torch.exp(-2 * log_sigma[..., 1]))
    # x'^2/sx^2 + y'^2/sy^2 with y'^2 = |d|^2 - x'^2: no angle, smooth through k = 0
    quad = (dx * dx + dy * dy) * inv_y + (kd * kd / k2) * (inv_x - inv_y)
    arg = (2 * math.pi) * kd
    carrier = ex(phase[..., 0]) * torch.cos(arg) + ex(phase[..., 1]) * torch.sin(arg)
    return torch.exp(-0.5 * quad) * carrier


def gabor_readout(wave, phase, log_sigma, center, shape, *, max_frequency=MAX_FREQUENCY):
    r"""Orientation, frequency, phase, widths, centre and amplitude of Gabor parameters.

    Parameters
    ----------
    wave, phase, log_sigma, center : tensors of shape (..., 2)
        As in `gabor_filters`.
    shape : tuple of int
        ``(height, width)``: the centre is returned in pixel coordinates
        (column ``x0``, row ``y0``).
    max_frequency : float, default=0.5

    Returns
    -------
    params : dict of tensor
        ``theta`` in :math:`[0, \pi)`, ``frequency`` (cycles/pixel), ``phase`` in
        :math:`(-\pi, \pi]`, ``sigma_x``, ``sigma_y``, ``x0``, ``y0``, ``amplitude``:
        the arguments of :func:`skl_sparse.gabor.gabor_kernel` that draw the same filter.

    Examples
    --------
    >>> import math, torch
    >>> from skl_sparse.nn import gabor_readout
    >>> u = torch.tensor([[0.0, 0.3]])  # along +y
    >>> p = gabor_readout(u, torch.tensor([[1.0, 0.0]]), torch.zeros(1, 2),
    ...                   torch.zeros(1, 2), (9, 9))
    >>> round(float(p["theta"][0]), 4) == round(math.pi / 2, 4), float(p["x0"][0])
    (True, 4.0)
    """
    with torch.no_grad():
        k = wave_vector(wave, max_frequency)
        theta = torch.atan2(k[..., 1], k[..., 0])
        phi = torch.atan2(-phase[..., 1], phase[..., 0])
        # k -> -k is the same filter with the phase negated: theta into [0, pi)
        flip = (theta < 0) | (theta >= math.pi)
        theta = torch.remainder(theta, math.pi)
        phi = torch.where(flip, -phi, phi)
        phi = torch.atan2(torch.sin(phi), torch.cos(phi))
        return {
            "theta": theta,
            "frequency": torch.linalg.vector_norm(k, dim=-1),
            "phase": phi,
            "sigma_x": torch.exp(log_sigma[..., 0]),
            "sigma_y": torch.exp(log_sigma[..., 1]),
            "x0": center[..., 0] + (shape[1] - 1) / 2,
            "y0": center[..., 1] + (shape[0] - 1) / 2,
            "amplitude": torch.linalg.vector_norm(phase, dim=-1),
        }


def init_gabor_parameters(n, shape, *, frequency=(0.05, 0.4), sigma=1.0, spread=0.0,
                          generator=None, dtype=torch.float32, device=None,
                          max_frequency=MAX_FREQUENCY):
    """Random parameters of ``n`` Gabor filters (a tuple of four ``(n, 2)`` tensors).

    Orientations and phases are uniform, frequencies uniform in ``frequency``, both
    widths ``sigma`` (a small width is a broad spectrum: see `GaborConv2d` on
    coarse-to-fine training), centres uniform within ``spread`` times the half-size
    of the kernel around its middle (0: all in the middle). Drawn from ``generator``.
    """
    # drawn where the generator lives (the same numbers on every device), then moved
    draw_on = generator.device if generator is not None else torch.device("cpu")

    def uniform(lo, hi, size=(n,)):
        u = torch.rand(size, generator=generator, dtype=dtype, device=draw_on)
        return u * (hi - lo) + lo

    theta, phi = uniform(0, math.pi), uniform(-math.pi, math.pi)
    f = uniform(*frequency).clamp(max=0.999 * max_frequency)
    wave = free_wave(theta, f, max_frequency)
    phase = angle_phase(phi)
    log_sigma = torch.full((n, 2), math.log(sigma), dtype=dtype, device=draw_on)
    half = torch.tensor([(shape[1] - 1) / 2, (shape[0] - 1) / 2], dtype=dtype, device=draw_on)
    center = uniform(-1.0, 1.0, (n, 2)) * half * spread
    return tuple(t.to(device) for t in (wave, phase, log_sigma, center))


class _GaborConv(nn.Module):
    """Convolution, optional RMS normalisation and bias around ``kernels()``.

    Subclasses register their parameters and define ``kernels()`` (shape
    ``(out, in, h, w)``) and ``amplitude`` (shape ``(out, in)``).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 bias, normalize, momentum, factory):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if len(size) != 2 or not all(isinstance(s, int) and s >= 1 for s in size):
            raise ValueError(f"kernel_size must be a positive int or a pair; got {kernel_size!r}.")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, size
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.normalize, self.momentum = normalize, momentum
        self.bias = nn.Parameter(torch.zeros(out_channels, **factory)) if bias else None
        self.register_buffer("running_rms", torch.ones(out_channels, **factory))

    def forward(self, x):
        if x.dim() not in (3, 4):
            raise ValueError(f"{type(self).__name__} expects input of shape (N, C, H, W) or "
                             f"(C, H, W); got {tuple(x.shape)}.")
        if x.dim() == 3:  # unbatched, as nn.Conv2d takes it
            return self.forward(x[None])[0]
        out = F.conv2d(x, self.kernels(), None, self.stride, self.padding, self.dilation)
        if self.normalize:
            # an empty batch has no RMS: it leaves the running one as it is
            if self.training and out.shape[0] > 0:
                rms = torch.sqrt((out * out).mean(dim=(0, 2, 3)) + 1e-12)
                with torch.no_grad():
                    self.running_rms.lerp_(rms.detach(), self.momentum)
            else:
                rms = self.running_rms
            gain = torch.linalg.vector_norm(self._amplitudes(), dim=1)
            out = out * (gain / rms)[None, :, None, None]
        if self.bias is not None:
            out = out + self.bias[None, :, None, None]
        return out

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, normalize={self.normalize}")


class GaborConv2d(_GaborConv):
    r"""2-D convolution whose kernels are Gabor filters with learnable parameters.

    A drop-in first layer for a torch network: like ``torch.nn.Conv2d``, but each of
    the ``out_channels x in_channels`` kernels is the Gabor function of the module
    docstring, with eight parameters (wave vector, phase pair, log-widths, centre)
    instead of ``kernel_size**2`` weights. The parameters are the module's
    ``wave``, ``phase``, ``log_sigma`` and ``center``, each of shape
    ``(out_channels, in_channels, 2)``; the read-out properties `theta`,
    `frequency`, `phase_angle`, `sigma` and `amplitude` give them back in the usual
    terms.

    With ``normalize=True`` each output channel is divided by its root mean square
    over the batch and positions (a running estimate in ``eval()`` mode, as a batch
    normalisation without centring) and multiplied by the kernels' amplitude, so the
    amplitude is the output's scale and the filter's *shape* is learned apart from it.
    This matters on natural images, whose power falls with frequency: without it the
    loss of a filter far from its target is lowered by moving the filter to where the
    images have no power (high frequencies), away from the target.

    Coarse-to-fine training: a narrow envelope has a broad spectrum, so a filter that
    starts narrow (``sigma_init=1``) feels a target far away in orientation and
    frequency; freezing ``log_sigma`` (``module.log_sigma.requires_grad_(False)``)
    for the first steps and releasing it afterwards recovers the filter from almost
    any start (the user guide's recovery experiment).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of int
    stride, padding, dilation : int or tuple, default=1, 0, 1
        As in ``torch.nn.Conv2d``.
    bias : bool, default=True
    normalize : bool, default=False
        Normalise each output channel by its RMS (see above).
    frequency_init : tuple of float, default=(0.05, 0.4)
        Initial frequencies are uniform in this range (cycles/pixel).
    sigma_init : float, default=1.0
        Initial envelope widths (pixels). Widths below 0.001 pixel, given or learned,
        render as 0.001: a single pixel.
    momentum : float, default=0.1
        Of the running RMS used in ``eval()`` mode with ``normalize``.
    generator : torch.Generator, default=None
        Source of the initial parameters (torch's global one if None).
    device, dtype : default=None

    Examples
    --------
    >>> import torch
    >>> from skl_sparse.nn import GaborConv2d
    >>> conv = GaborConv2d(1, 4, 7, generator=torch.Generator().manual_seed(0))
    >>> conv(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 4, 10, 10])
    >>> conv.theta.shape, sum(p.numel() for p in conv.parameters())
    (torch.Size([4, 1]), 36)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, *, normalize=False, frequency_init=(0.05, 0.4),
                 sigma_init=1.0, momentum=0.1, generator=None, device=None, dtype=None):
        factory = {"dtype": dtype or torch.get_default_dtype(), "device": device}
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         bias, normalize, momentum, factory)
        lo, hi = frequency_init
        if not 0 <= lo <= hi < MAX_FREQUENCY:
            raise ValueError(f"frequency_init must satisfy 0 <= low <= high < 0.5; "
                             f"got {frequency_init!r}.")
        if not sigma_init > 0:
            raise ValueError(f"sigma_init must be positive; got {sigma_init!r}.")
        self.frequency_init, self.sigma_init = (lo, hi), sigma_init
        shape = (out_channels, in_channels, 2)
        self.wave = nn.Parameter(torch.empty(shape, **factory))
        self.phase = nn.Parameter(torch.empty(shape, **factory))
        self.log_sigma = nn.Parameter(torch.empty(shape, **factory))
        self.center = nn.Parameter(torch.empty(shape, **factory))
        self.reset_parameters(generator)

    def reset_parameters(self, generator=None):
        """Random orientations, phases and frequencies; widths ``sigma_init``; centred."""
        n = self.out_channels * self.in_channels
        params = init_gabor_parameters(
            n, self.kernel_size, frequency=self.frequency_init, sigma=self.sigma_init,
            generator=generator, dtype=self.wave.dtype, device=self.wave.device,
        )
        with torch.no_grad():
            for p, value in zip((self.wave, self.phase, self.log_sigma, self.center), params,
                                strict=True):
                p.copy_(value.reshape(p.shape))
            if self.bias is not None:
                self.bias.zero_()
            self.running_rms.fill_(1.0)

    def kernels(self):
        """The Gabor kernels, shape ``(out_channels, in_channels, *kernel_size)``."""
        return gabor_filters(self.wave, self.phase, self.log_sigma, self.center,
                             self.kernel_size)

    def _amplitudes(self):
        return torch.linalg.vector_norm(self.phase, dim=-1)

    def _readout(self, name):
        return gabor_readout(self.wave, self.phase, self.log_sigma, self.center,
                             self.kernel_size)[name]

    @property
    def theta(self):
        """Orientation of each kernel's wave vector in [0, pi), ``(out, in)``."""
        return self._readout("theta")

    @property
    def frequency(self):
        """Spatial frequency of each kernel, cycles per pixel, ``(out, in)``."""
        return self._readout("frequency")

    @property
    def phase_angle(self):
        """Phase of each kernel's carrier in (-pi, pi], ``(out, in)``."""
        return self._readout("phase")

    @property
    def sigma(self):
        """Envelope widths across and along the stripes, ``(out, in, 2)``."""
        return torch.exp(self.log_sigma.detach())

    @property
    def amplitude(self):
        """Amplitude of each kernel, ``(out, in)``."""
        return self._readout("amplitude")


class AngleGaborConv2d(_GaborConv):
    r"""Gabor convolution in the lecture's parameterisation: orientation, frequency, phase.

    The same kernels as `GaborConv2d` (one input channel), written with the wave vector
    :math:`k = f(\cos\theta, \sin\theta)`, the phase as an angle :math:`\varphi` and a
    log-amplitude: the parameters of the 001 question. Gradient descent on them meets the
    periodic traps `GaborConv2d` avoids (the loss is periodic in :math:`\theta` and
    :math:`\varphi`), so it is kept as the baseline of the recovery experiment
    (:func:`skl_sparse.experiments.gabor_recovery`), not for training.

    Parameters
    ----------
    out_channels : int
    kernel_size : tuple of int
        ``(height, width)``.
    theta, frequency, phase : array-like of shape (out_channels,)
        Initial orientations (radians), frequencies (cycles/pixel) and phases.
    log_sigma : array-like of shape (out_channels, 2)
        Initial log-widths across and along the stripes.
    normalize : bool, default=False
        As in `GaborConv2d`.
    dtype : torch dtype, default=None
        torch's default dtype if None.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skl_sparse.nn import AngleGaborConv2d
    >>> conv = AngleGaborConv2d(2, (7, 7), [0.0, 1.0], [0.2, 0.3], [0.0, 0.5],
    ...                         np.zeros((2, 2)), dtype=torch.float64)
    >>> conv(torch.randn(1, 1, 12, 12, dtype=torch.float64)).shape
    torch.Size([1, 2, 6, 6])
    """

    def __init__(self, out_channels, kernel_size, theta, frequency, phase, log_sigma, *,
                 normalize=False, dtype=None):
        dtype = dtype or torch.get_default_dtype()
        factory = {"dtype": dtype, "device": None}
        super().__init__(1, out_channels, kernel_size, 1, 0, 1, False, normalize, 0.1, factory)
        as_param = lambda v: nn.Parameter(torch.tensor(v, dtype=dtype).reshape(  # noqa: E731
            out_channels, 1, *np.shape(v)[1:]))
        self.theta, self.frequency, self.phase_angle = map(as_param, (theta, frequency, phase))
        self.log_sigma = as_param(log_sigma)
        self.log_amplitude = nn.Parameter(torch.zeros(out_channels, 1, dtype=dtype))

    def kernels(self):
        """The Gabor kernels, shape ``(out_channels, 1, *kernel_size)``."""
        k = angle_wave(self.theta, self.frequency)
        pair = angle_phase(self.phase_angle) * torch.exp(self.log_amplitude)[..., None]
        return render_gabor(k, pair, self.log_sigma, torch.zeros_like(k), self.kernel_size)

    def _amplitudes(self):
        return torch.exp(self.log_amplitude)
