"""LISTA: learned ISTA, a trained feed-forward approximation of the lasso codes.

Gregor and LeCun (2010) unroll a fixed number of ISTA iterations and train their
matrices and thresholds to reproduce the exact codes: a few layers then do what
ISTA needs one or two orders of magnitude more iterations for.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval
from torch import nn

from .._device import to_tensor
from .._docstrings import fill_doc
from .._solvers import gram_eigmax, shrink
from .._validation import check_dictionary
from ..sparse_coding._dict_learning import dict_learning_batch
from ..sparse_coding._dictionary import DICT_UPDATES, init_dictionary
from ..sparse_coding._encode import encode_tensor, sparse_encode
from ._base import TRAINING_CONSTRAINTS, TRAINING_PIECES, _TorchTransformer


class LISTAModule(nn.Module):
    """``z_1 = shrink(x W^T, t_1)``, ``z_{l+1} = shrink(x W^T + z_l S, t_{l+1})``."""

    def __init__(self, n_features, n_components, n_layers):
        super().__init__()
        self.encoder = nn.Parameter(torch.zeros(n_components, n_features))
        self.lateral = nn.Parameter(torch.zeros(n_components, n_components))
        self.thresholds = nn.Parameter(torch.zeros(n_layers, n_components))
        self.register_buffer("dictionary", torch.zeros(n_components, n_features))

    def forward(self, x):
        b = x @ self.encoder.T
        z = shrink(b, self.thresholds[0])
        for threshold in self.thresholds[1:]:
            z = shrink(torch.addmm(b, z, self.lateral), threshold)
        return z


@fill_doc(**TRAINING_PIECES)
class LISTAEncoder(_TorchTransformer):
    r"""Learned ISTA: a fast trained encoder for the lasso codes of a dictionary.

    The lasso codes :math:`h^*(x) = \arg\min_h \tfrac12\|x - hD\|^2 + \alpha\|h\|_1`
    are approximated by ``n_layers`` unrolled ISTA steps with learned parameters
    (Gregor & LeCun, 2010):

    .. math:: z_1 = \mathrm{shrink}_{\theta_1}(x W^\top), \qquad
              z_{l+1} = \mathrm{shrink}_{\theta_{l+1}}(x W^\top + z_l S),

    initialised at ISTA (:math:`W = D/L`, :math:`S = I - DD^\top/L`,
    :math:`\theta_l = \alpha/L`, :math:`L` the largest eigenvalue of
    :math:`DD^\top`) and trained on :math:`\tfrac12\|z - h^*(x)\|^2`, the exact
    codes computed once by :func:`sparse_encode`. ``transform`` is the
    feed-forward pass: ``n_layers`` matrix products, no iterations and no
    convergence test, so its cost is fixed and small (on a GPU especially).

    Use it when the same dictionary codes many samples and approximate codes
    will do (features for a classifier); use :class:`SparseCoder` for exact
    codes. :class:`PSDEncoder`'s predictor is the one-layer case, learned
    jointly with its dictionary.

    Read more in the :ref:`User Guide <psd>`.

    Parameters
    ----------
    n_layers : int, default=3
        Unrolled ISTA steps :math:`T`.
    n_components : int or None, default=None
        Atoms of the dictionary learned when ``dictionary`` is None
        (``n_features`` if None); must match ``dictionary`` otherwise.
    alpha : float, default=0.1
        Weight of the :math:`\ell_1` penalty of the codes to reproduce.
    dictionary : array-like of shape (n_components, n_features), estimator or None, default=None
        The dictionary :math:`D` (a fitted estimator's ``components_``); None
        learns one on the training data as :class:`SparseCoder` does (alternations
        of exact codes and block-coordinate updates, at most 30).
        ``clone`` (and so a grid search) unfits an estimator given here: pass
        ``components_`` or ``sklearn.frozen.FrozenEstimator(fitted)``.
    {training}

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The dictionary :math:`D` the codes refer to (``inverse_transform``).
    encoder_weights_ : ndarray of shape (n_components, n_features)
        :math:`W`.
    lateral_weights_ : ndarray of shape (n_components, n_components)
        :math:`S`.
    thresholds_ : ndarray of shape (n_layers, n_components)
        :math:`\theta_l` per layer and unit.
    {attributes}

    See Also
    --------
    SparseCoder : exact lasso codes.
    PSDEncoder : a one-layer predictor learned with its dictionary.

    References
    ----------
    K. Gregor and Y. LeCun, "Learning fast approximations of sparse coding",
    ICML 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import LISTAEncoder
    >>> X = np.random.RandomState(0).randn(300, 8)
    >>> lista = LISTAEncoder(n_layers=2, n_components=12, max_iter=5, random_state=0,
    ...                      device="cpu").fit(X)
    >>> lista.transform(X).shape, lista.thresholds_.shape
    ((300, 12), (2, 12))
    """

    _parameter_constraints: dict = {
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "dictionary": ["array-like", HasMethods(["fit", "transform"]), None],
        **TRAINING_CONSTRAINTS,
    }

    def __init__(
        self,
        n_layers=3,
        *,
        n_components=None,
        alpha=0.1,
        dictionary=None,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=256,
        max_iter=50,
        tol=1e-4,
        n_iter_no_change=5,
        weight_decay=0.0,
        shuffle=True,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_layers = n_layers
        self.n_components = n_components
        self.alpha = alpha
        self.dictionary = dictionary
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

    @property
    def _n_features_out(self):
        return self._weights["dictionary"].shape[0]

    def _target_dictionary(self, X, device):
        """The dictionary whose codes are learned (validated against ``X``)."""
        if self.dictionary is None:
            return self._learned_dictionary(X, device)
        D = self.dictionary
        if hasattr(D, "fit"):
            if not hasattr(D, "components_"):
                raise ValueError(
                    f"dictionary is an unfitted {type(D).__name__}; note that clone() (and so "
                    "GridSearchCV) unfits estimators given as parameters: pass its "
                    "components_, or wrap the fitted estimator in "
                    "sklearn.frozen.FrozenEstimator."
                )
            D = D.components_
        return check_dictionary(D, X.shape[1], self.n_components)

    def _learned_dictionary(self, X, device):
        """A dictionary learned in batch by the function layer (as `SparseCoder`'s)."""
        rng = check_random_state(self.random_state)
        Xt = to_tensor(X, device, dtype=np.float64)
        D = init_dictionary(Xt, self.n_components or X.shape[1], rng)

        def code(Xb, Db):
            H, primal, _ = encode_tensor(Xb, Db, self.alpha, solver="auto", positive=False,
                                         max_iter=1000, tol=1e-6)
            return H, primal

        with warnings.catch_warnings():
            # the dictionary is a means here: LISTA learns to reproduce its codes
            warnings.simplefilter("ignore", ConvergenceWarning)
            dict_learning_batch(Xt, D, code, DICT_UPDATES["bcd"], max_iter=30, tol=1e-3,
                                rng=rng)
        return D.cpu().numpy()

    def _training_tensor(self, X, device, first):
        # the exact codes to reproduce travel with the samples, as extra columns
        D = (self._target_dictionary(X, device) if first
             else self._weights["dictionary"].astype(np.float64))
        self._fitting_dictionary = D
        H = sparse_encode(X, D, alpha=self.alpha, device=str(device))
        if torch.is_tensor(X):  # Array API dispatch: X and its codes stay on X's device
            return torch.cat([X, H], dim=1).to(torch.float32)
        return to_tensor(np.hstack([X, H]), device, dtype=np.float32)

    def _build_module(self, n_features):
        D = getattr(self, "_fitting_dictionary", None)
        k = (D if D is not None else self._weights["dictionary"]).shape[0]
        return LISTAModule(n_features, k, self.n_layers)

    def _init_module(self, module, Xt, generator):
        D = torch.as_tensor(self._fitting_dictionary)
        G = D @ D.T
        L = max(gram_eigmax(G), 1e-12)
        with torch.no_grad():
            module.dictionary.copy_(D)
            module.encoder.copy_(D / L)
            module.lateral.copy_(torch.eye(G.shape[0], dtype=G.dtype) - G / L)
            module.thresholds.fill_(self.alpha / L)

    def _batch_loss(self, module, x, generator):
        p = self.n_features_in_
        z = module(x[:, :p])
        return 0.5 * ((z - x[:, p:]) ** 2).sum(dim=1).mean()

    def _graph_safe(self, module):
        return True  # unrolled iterations on fixed shapes, no noise

    def _after_step(self, module):
        with torch.no_grad():
            module.thresholds.clamp_(min=0)

    def _encode(self, module, x):
        return module(x)

    def _decode(self, module, h):
        return h @ module.dictionary

    def _export(self):
        self._fitting_dictionary = None
        w = self._weights
        self.components_ = w["dictionary"]
        self.encoder_weights_ = w["encoder"]
        self.lateral_weights_ = w["lateral"]
        self.thresholds_ = w["thresholds"]

