"""Predictive sparse decomposition (Kavukcuoglu, Ranzato and LeCun, 2008)."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from .. import _solvers
from .._docstrings import fill_doc
from .._solvers import (
    BUDGET_ITER,
    SOLVERS,
    lasso_gram,
    lasso_gram_budget,
    lasso_objective,
    lipschitz_bound,
)
from ..sparse_coding._dictionary import init_dictionary, normalize_rows_
from ..sparse_coding._encode import encode_tensor
from ._base import TRAINING_CONSTRAINTS, TRAINING_PIECES, _returned, _TorchTransformer
from ._modules import ACTIVATIONS, linear_layers

PREDICTOR_ACTIVATIONS = ("shrink", *ACTIVATIONS)


class PSDModule(nn.Module):
    """Dictionary ``D`` (unit-norm rows) and predictor ``F(x) = g * s(W x + b)``."""

    def __init__(self, n_features, n_components, activation):
        super().__init__()
        self.activation = activation
        self.encoder = linear_layers([n_features, n_components])
        self.gain = nn.Parameter(torch.ones(n_components))
        self.threshold = nn.Parameter(torch.zeros(n_components))  # used by "shrink"
        self.dictionary = nn.Parameter(torch.zeros(n_components, n_features))

    def predict(self, x):
        layer = self.encoder[0]
        if self.activation != "shrink":
            return self.gain * ACTIVATIONS[self.activation](layer(x))
        # soft thresholding, exact zeros like the lasso codes it predicts; the gain is
        # folded in (g shrink_t(a) = shrink_{t|g|}(g a)) to save passes over the output
        g = self.gain
        a = torch.nn.functional.linear(x, layer.weight * g[:, None], layer.bias * g)
        t = self.threshold * g.abs()
        c = torch.clamp(a, -t, t)
        return a.sub_(c) if not torch.is_grad_enabled() else a - c


@fill_doc(**TRAINING_PIECES)
class PSDEncoder(_TorchTransformer):
    r"""Predictive sparse decomposition: sparse coding with a fast learned encoder.

    Learns a dictionary :math:`D` (unit-norm atoms, rows of ``components_``)
    and a feed-forward predictor :math:`F(x) = g \odot s(Wx + b)` by
    minimising, over mini-batches,

    .. math:: \tfrac12 \|x - zD\|^2 + \alpha \|z\|_1
              + \tfrac{\beta}{2} \|z - F(x)\|^2

    alternately in the codes and in the parameters. With :math:`D` and
    :math:`F` fixed, the optimal codes solve a lasso in Gram form,
    :math:`\tfrac12 z^\top (DD^\top + \beta I) z - z^\top (Dx + \beta F(x))
    + \alpha\|z\|_1`, handed to the package's lasso solver (warm-started from
    :math:`F(x)` for the iterative solvers); then one optimiser step on
    :math:`D, W, b, g` with the codes fixed, and the atoms are renormalised.
    ``transform`` returns the predicted codes :math:`F(x)` (one matrix product:
    fast) or, with ``method="optimize"``, the exact lasso codes
    :math:`\arg\min_z \tfrac12\|x - zD\|^2 + \alpha\|z\|_1`.

    Read more in the :ref:`User Guide <psd>`.

    Parameters
    ----------
    n_components : int, default=100
        Number of atoms and code units.
    alpha : float, default=0.5
        Weight of the :math:`\ell_1` penalty.
    prediction_weight : float, default=1.0
        :math:`\beta`, weight of the prediction term.
    activation : {"shrink", "tanh", "sigmoid", "relu", "linear"}, default="shrink"
        :math:`s` of the predictor. "shrink" is the soft threshold
        :math:`s(a) = \mathrm{sign}(a) \max(|a| - \theta, 0)` with a learned
        threshold :math:`\theta \ge 0` per unit (one step of LISTA, Gregor &
        LeCun 2010): its predictions are sparse and fit the lasso codes much
        better than "tanh", the original choice of Kavukcuoglu et al.
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        Lasso solver for the codes (see :func:`sparse_encode`). On a GPU the
        training codes take a fixed budget of FISTA iterations warm-started
        from the prediction, with no host synchronisation.
    transform_method : {"predict", "optimize"}, default="predict"
        What ``transform`` returns unless its ``method`` argument says otherwise.
    {training}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Dictionary atoms (unit norm).
    encoder_weights_ : ndarray of shape (n_components, n_features)
        :math:`W` of the predictor.
    encoder_bias_ : ndarray of shape (n_components,)
        :math:`b`.
    encoder_gain_ : ndarray of shape (n_components,)
        :math:`g`.
    encoder_threshold_ : ndarray of shape (n_components,)
        :math:`\theta` of the "shrink" activation (unused otherwise).
    loss_curve_ : list of float
        Mean energy of every epoch (of every ``partial_fit`` call).
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    {fitted_features}

    See Also
    --------
    LISTAEncoder : a deeper trained encoder for a fixed dictionary.
    SparseCoder : exact lasso codes.
    OnlineDictionaryLearner : the dictionary alone, learned online.

    References
    ----------
    Kavukcuoglu, Ranzato and LeCun, "Fast inference in sparse coding
    algorithms with applications to object recognition", arXiv:1010.3467, 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import PSDEncoder
    >>> X = np.random.RandomState(0).randn(300, 16)
    >>> psd = PSDEncoder(n_components=24, alpha=0.2, max_iter=3, random_state=0,
    ...                  device="cpu").fit(X)
    >>> psd.transform(X).shape, psd.transform(X, method="optimize").shape
    ((300, 24), (300, 24))
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "prediction_weight": [Interval(Real, 0, None, closed="neither")],
        "activation": [StrOptions(set(PREDICTOR_ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "transform_method": [StrOptions({"predict", "optimize"})],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(
        self,
        n_components=100,
        *,
        alpha=0.5,
        prediction_weight=1.0,
        activation="shrink",
        solver="auto",
        transform_method="predict",
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=128,
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=5,
        weight_decay=0.0,
        shuffle=True,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.prediction_weight = prediction_weight
        self.activation = activation
        self.solver = solver
        self.transform_method = transform_method
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.weight_decay = weight_decay
        self.shuffle = shuffle
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_module(self, n_features):
        return PSDModule(n_features, self.n_components, self.activation)

    def _init_module(self, module, Xt, generator):
        # atoms drawn from the data, as for the other dictionary learners
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator, device=generator.device))
        with torch.no_grad():
            module.gain.fill_(1.0)
            module.dictionary.copy_(
                init_dictionary(Xt, self.n_components, np.random.RandomState(seed))
            )

    def _optimal_codes(self, module, x):
        """Codes minimising the energy with D and F fixed (no gradient).

        On a GPU (iterative solver): a fixed budget of FISTA iterations
        warm-started from the prediction, with no host synchronisation.
        """
        beta = self.prediction_weight
        with torch.no_grad():
            pred = module.predict(x)
            D = module.dictionary
            G = D @ D.T + beta * torch.eye(D.shape[0], dtype=D.dtype, device=D.device)
            C = x @ D.T + beta * pred
            x_sq = (x * x).sum(dim=1) + beta * (pred * pred).sum(dim=1)
            if _solvers.sync_free(x.device, self.solver):
                # the power iteration continues from the last batch's vector (D moves
                # slowly), kept in place for the CUDA graph that replays the step
                v = getattr(module, "_power_vector", None)
                lipschitz, v_new = lipschitz_bound(G, v=v)
                if v is None:
                    module._power_vector = v_new
                else:
                    v.copy_(v_new)
                z, _ = lasso_gram_budget(C, G, x_sq, self.alpha, init=pred, n_iter=BUDGET_ITER,
                                         lipschitz=lipschitz)
            elif not bool(torch.isfinite(C).all() and torch.isfinite(G).all()):
                # the training diverged (or X overflows): NaN codes make the loss NaN, which
                # the training loop reports as divergence
                z = torch.full_like(pred, float("nan"))
            else:
                z, *_ = lasso_gram(
                    C, G, x_sq, self.alpha, solver=self.solver, init=pred, max_iter=200,
                    tol=1e-6,
                )
        return z, pred

    def _batch_loss(self, module, x, generator):
        z, _ = self._optimal_codes(module, x)
        misfit = z - module.predict(x)
        energy = lasso_objective(x, module.dictionary, z, self.alpha)
        energy = energy + 0.5 * self.prediction_weight * (misfit * misfit).sum(dim=1)
        return energy.mean()

    def _graph_safe(self, module):
        # budgeted codes: no host synchronisation (the converged codes of the CPU path test
        # convergence on the host)
        return _solvers.sync_free(module.dictionary.device, self.solver)

    def _after_step(self, module):
        with torch.no_grad():
            normalize_rows_(module.dictionary)
            module.threshold.clamp_(min=0)

    def _encode(self, module, x):
        return module.predict(x)

    def _optimize(self, module, x):
        z, *_ = encode_tensor(
            x, module.dictionary, self.alpha, solver=self.solver, positive=False,
            max_iter=1000, tol=1e-6,
        )
        return z

    def _decode(self, module, h):
        return h @ module.dictionary

    def transform(self, X, method=None):
        """Predicted (fast) or optimal (exact lasso) codes of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        method : {"predict", "optimize"} or None, default=None
            None uses ``transform_method``.

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
        """
        method = self.transform_method if method is None else method
        if method not in ("predict", "optimize"):
            raise ValueError(f"method must be 'predict' or 'optimize'; got {method!r}.")
        X, namespace = self._check_input(X)
        fn = self._encode if method == "predict" else self._optimize
        return _returned(self._map(X, fn, self.n_components), namespace)

    def _export(self):
        w = self._weights
        self.components_ = w["dictionary"]
        self.encoder_weights_ = w["encoder.0.weight"]
        self.encoder_bias_ = w["encoder.0.bias"]
        self.encoder_gain_ = w["gain"]
        self.encoder_threshold_ = w["threshold"]
