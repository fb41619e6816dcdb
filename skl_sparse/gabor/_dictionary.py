r"""GaborDictionaryLearner: online dictionary learning with Gabor-parameterised atoms."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval

from .._device import to_numpy, to_tensor, torch_dtype
from .._docstrings import fill_doc
from ..sparse_coding._base import _OnlineLearner
from ..sparse_coding._dict_learning import accumulate_
from ..sparse_coding._dictionary import normalize_rows_
from ._conv import MAX_FREQUENCY, gabor_filters, gabor_readout, init_gabor_parameters

_ADAM_BETAS = (0.9, 0.999)


def _split(P):
    """Rows ``[u_x, u_y, a, b, log sx, log sy, c_x, c_y]`` -> the four ``(k, 2)`` blocks."""
    return P[:, 0:2], P[:, 2:4], P[:, 4:6], P[:, 6:8]


def render_atoms(P, shape):
    """Unit-norm Gabor atoms (rows, ``height * width`` pixels) of parameter rows ``P``."""
    atoms = gabor_filters(*_split(P), shape).reshape(P.shape[0], -1)
    return atoms / torch.clamp(torch.linalg.vector_norm(atoms, dim=1, keepdim=True), min=1e-12)


def _random_rows(n, shape, sigma, rng, dtype, device):
    generator = torch.Generator().manual_seed(int(rng.randint(2**31 - 1)))
    blocks = init_gabor_parameters(n, shape, sigma=sigma, spread=1.0, generator=generator,
                                   dtype=dtype, device=device)
    return torch.cat(blocks, dim=1)


@fill_doc()
class GaborDictionaryLearner(_OnlineLearner, BaseEstimator):
    r"""Online dictionary learning whose atoms are Gabor functions with 8 parameters.

    Each atom :math:`d_j` is the unit-norm Gabor filter of :mod:`skl_sparse.nn`
    rendered on the ``patch_shape`` grid from eight parameters (a free wave vector
    :math:`u_j` with :math:`k_j = \tfrac12\tanh\lVert u_j\rVert\, u_j/\lVert u_j\rVert`,
    a phase pair :math:`(a_j, b_j)`, log-widths and the centre), instead of one
    weight per pixel. Learning follows :class:`OnlineDictionaryLearner`: for each
    mini-batch the lasso codes :math:`H_t` on the current atoms, the running averages
    :math:`A \leftarrow \beta_t A + (1-\beta_t) H_t^\top H_t/b`,
    :math:`B \leftarrow \beta_t B + (1-\beta_t) H_t^\top X_t/b`, and then, in place of
    the block-coordinate sweep, ``n_inner_steps`` Adam steps on the parameters of the
    surrogate

    .. math:: \tfrac12 \operatorname{tr}(D A D^\top) - \operatorname{tr}(D B^\top),
              \qquad D = D(\text{parameters}),

    which is the mini-batches' squared error up to a constant (the gradient flows
    through the rendering and the atoms' normalisation). Atoms that no code uses are
    redrawn at random.

    Read more in the :ref:`User Guide <gabor_learning>`.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``n_features``.
    patch_shape : tuple of int, default=None
        ``(height, width)`` with ``height * width == n_features``; ``None``: square
        patches when ``n_features`` is a square, else one row of ``n_features`` pixels.
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty.
    batch_size : int, default=256
        Samples per mini-batch.
    forget_factor : float, default=0.97
        :math:`\beta` of the running averages (see :class:`OnlineDictionaryLearner`).
    max_iter : int, default=10
        Epochs of ``fit``.
    tol : float, default=1e-3
        ``fit`` stops when an epoch's mean objective improves by less than ``tol``
        relative to the previous one; 0 runs all ``max_iter`` epochs.
    shuffle : bool, default=True
        Shuffle the samples before each epoch of ``fit``.
    learning_rate : float, default=0.02
        Adam step size on the atom parameters.
    n_inner_steps : int, default=5
        Adam steps per mini-batch. On large data fewer, larger steps are faster at
        the same objective (100 atoms, 20,000 whitened 12x12 patches: 2 steps at
        ``learning_rate=0.05`` reached 0.2230 in 3.5 s, 5 steps at 0.02 in 6.0 s);
        on few mini-batches they leave atoms unfinished.
    sigma_init : float, default=2.0
        Initial envelope widths (pixels, at least 0.001); the initial atoms have random
        orientations, phases, centres and frequencies in [0.05, 0.4] cycles/pixel.
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        Lasso solver (see :func:`sparse_encode`).
    {lasso_parameters}
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]".
    random_state : int, RandomState instance or None, default=None
        Initial atoms, redrawn atoms and shuffling.
    verbose : int, default=0
        Print the mean objective after each epoch.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The rendered unit-norm Gabor atoms.
    parameters_ : ndarray of shape (n_components, 8)
        Per atom: free wave vector :math:`u` (2), phase pair :math:`(a, b)` (2),
        :math:`\log\sigma_x, \log\sigma_y` and the centre's offset from the patch's
        middle (2).
    theta_ : ndarray of shape (n_components,)
        Orientation of each atom's wave vector in :math:`[0, \pi)`.
    frequency_ : ndarray of shape (n_components,)
        Spatial frequency, cycles per pixel.
    phase_ : ndarray of shape (n_components,)
        Phase of the carrier :math:`\cos(2\pi f x' + \varphi)`.
    sigma_ : ndarray of shape (n_components, 2)
        Envelope widths across and along the stripes (pixels).
    center_ : ndarray of shape (n_components, 2)
        Envelope centre ``(x0, y0)`` (column, row) in pixels.
    {online_attributes}
    {fitted_features}

    See Also
    --------
    OnlineDictionaryLearner : the same learning with free atoms.
    skl_sparse.nn.GaborConv2d : Gabor filters as a torch layer.
    skl_sparse.gabor.fit_gabor : Gabor fit of a given filter.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import GaborDictionaryLearner
    >>> X = np.random.RandomState(0).randn(300, 64)
    >>> gdl = GaborDictionaryLearner(8, alpha=0.5, batch_size=100, max_iter=2,
    ...                              random_state=0, device="cpu").fit(X)
    >>> gdl.components_.shape, gdl.parameters_.shape, gdl.theta_.shape
    ((8, 64), (8, 8), (8,))
    """

    _parameter_constraints: dict = {
        **_OnlineLearner._parameter_constraints,
        "patch_shape": [tuple, None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_inner_steps": [Interval(Integral, 1, None, closed="left")],
        # narrower envelopes render as a single pixel (`skl_sparse.nn.gabor_filters`)
        "sigma_init": [Interval(Real, 1e-3, None, closed="left")],
    }

    def __init__(
        self,
        n_components=None,
        *,
        patch_shape=None,
        alpha=1.0,
        batch_size=256,
        forget_factor=0.97,
        max_iter=10,
        tol=1e-3,
        shuffle=True,
        learning_rate=0.02,
        n_inner_steps=5,
        sigma_init=2.0,
        solver="auto",
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.patch_shape = patch_shape
        self.alpha = alpha
        self.batch_size = batch_size
        self.forget_factor = forget_factor
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.learning_rate = learning_rate
        self.n_inner_steps = n_inner_steps
        self.sigma_init = sigma_init
        self.solver = solver
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _shape(self, n_features):
        if self.patch_shape is None:
            side = math.isqrt(n_features)
            return (side, side) if side * side == n_features else (1, n_features)
        shape = tuple(self.patch_shape)
        if (len(shape) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in shape)
                or shape[0] * shape[1] != n_features):
            raise ValueError(f"patch_shape must be two positive integers whose product is "
                             f"n_features={n_features}; got {self.patch_shape!r}.")
        return shape

    def _init_state(self, X, device, rng):
        shape = self._shape(X.shape[1])
        n = self.n_components or X.shape[1]
        dtype = torch_dtype(X.dtype)
        P = _random_rows(n, shape, self.sigma_init, rng, dtype, device)
        zeros = torch.zeros_like(P)
        return {"P": P, "D": render_atoms(P, shape), "shape": shape,
                "A": torch.zeros((n, n), dtype=P.dtype, device=device),
                "B": torch.zeros((n, X.shape[1]), dtype=P.dtype, device=device),
                "m": zeros, "v": zeros.clone(), "t": 0, "step": 0}

    def _state_from_attributes(self, device, dtype):
        as_t = lambda a: to_tensor(a, device, dtype=dtype).clone()  # noqa: E731
        P = as_t(self.parameters_)
        shape = self._shape(self.n_features_in_)
        return {"P": P, "D": render_atoms(P, shape), "shape": shape, "A": as_t(self.A_),
                "B": as_t(self.B_), "m": as_t(self._adam[0]), "v": as_t(self._adam[1]),
                "t": self._adam_t, "step": self.n_steps_}

    _divergence_hint = "lower learning_rate."

    def _state_diverged(self, state):
        # The parameters are pixels and log-widths: gradient steps stop moving an atom
        # once its envelope leaves the patch (the gradient vanishes there), so only steps
        # of a too-large learning_rate take one a hundred patches away, or to inf/NaN.
        bound = 100.0 * max(state["shape"])
        P = state["P"]
        return not bool(torch.isfinite(state["D"]).all() & (P.abs() <= bound).all())

    def _minibatch_step(self, Xb, state, rng):
        """Codes, running averages, Adam steps on the atom parameters, redrawn atoms."""
        A, B = state["A"], state["B"]
        beta = self._next_beta(state)
        H, primal = self._codes(Xb, state["D"])
        accumulate_(A, B, H, Xb, beta)
        self._update_parameters(state)
        unused = torch.diagonal(A) <= 0
        if bool(unused.any()):
            idx = torch.nonzero(unused).ravel()
            with torch.no_grad():
                state["P"][idx] = _random_rows(len(idx), state["shape"], self.sigma_init, rng,
                                               A.dtype, A.device)
                for key in ("m", "v"):
                    state[key][idx] = 0
            B[idx] = 0
        state["D"] = render_atoms(state["P"], state["shape"])
        return primal.mean()

    def _update_parameters(self, state):
        """``n_inner_steps`` Adam steps on the surrogate."""
        P, m, v, A, B = state["P"], state["m"], state["v"], state["A"], state["B"]
        b1, b2 = _ADAM_BETAS
        for _ in range(self.n_inner_steps):
            Pg = P.detach().requires_grad_(True)
            D = render_atoms(Pg, state["shape"])
            surrogate = 0.5 * (A * (D @ D.T)).sum() - (B * D).sum()
            (grad,) = torch.autograd.grad(surrogate, Pg)
            state["t"] += 1
            m.mul_(b1).add_(grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            m_hat = m / (1 - b1 ** state["t"])
            v_hat = v / (1 - b2 ** state["t"])
            P.sub_(self.learning_rate * m_hat / (torch.sqrt(v_hat) + 1e-8))
        # the atoms are normalised: keep the phase pair (a, b) on the unit circle
        normalize_rows_(P[:, 2:4])

    def _store(self, state, objective, rng):
        P = state["P"]
        read = gabor_readout(*_split(P), state["shape"], max_frequency=MAX_FREQUENCY)
        self.components_ = to_numpy(state["D"])
        self.parameters_ = to_numpy(P)
        self.theta_ = to_numpy(read["theta"])
        self.frequency_ = to_numpy(read["frequency"])
        self.phase_ = to_numpy(read["phase"])
        self.sigma_ = to_numpy(torch.stack([read["sigma_x"], read["sigma_y"]], 1))
        self.center_ = to_numpy(torch.stack([read["x0"], read["y0"]], 1))
        self.A_ = to_numpy(state["A"])
        self.B_ = to_numpy(state["B"])
        self._adam = (to_numpy(state["m"]), to_numpy(state["v"]))
        self._adam_t = state["t"]
        self.n_steps_ = state["step"]
        self.objective_ = np.asarray(objective)
        self._rng = rng
