"""Autoencoders: plain, sparse (KL), k-sparse, denoising and contractive.

Each class adds its loss terms to `_BaseAutoencoder`, which adds the
encoder/decoder architecture to the training core of `_TorchTransformer`.
"""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._docstrings import fill_doc
from .._validation import warn_user
from ._base import TRAINING_CONSTRAINTS, TRAINING_PIECES, _returned, _TorchTransformer
from ._modules import (
    ACTIVATIONS,
    AutoencoderModule,
    contractive_penalty,
    contractive_penalty_projection,
    corrupt,
    kl_sparsity,
    output_activation,
    reconstruction_loss,
    topk_mask,
)

# the docstring pieces of the autoencoders' architecture (`_autoencoder_doc`)
ARCHITECTURE_DOC = """\
n_components : int, default=100
    Size of the code (the last encoder layer).
hidden_layer_sizes : tuple of int, default=()
    Sizes of the encoder layers before the code (a stacked autoencoder);
    the decoder mirrors them.
{activation}
decoder_activation : {"linear", "sigmoid"}, default="linear"
    Output activation: "linear" for real-valued data, "sigmoid" for data in [0, 1].
loss : {"mse", "bce"}, default="mse"
    Reconstruction error per sample: squared error :math:`\\|x - r\\|^2` or
    Bernoulli cross-entropy :math:`-\\sum_i x_i \\log r_i + (1 - x_i) \\log(1 - r_i)`
    (needs ``decoder_activation="sigmoid"`` and X in [0, 1]).
tied_weights : bool, default=False
    Decoder weights are the transposed encoder weights :math:`W' = W^\\top`."""

ARCHITECTURE_ATTRIBUTES_DOC = """\
coefs_ : list of ndarray
    Encoder weights, ``coefs_[i]`` of shape (layer_out, layer_in): rows of
    ``coefs_[0]`` are the filters applied to the input.
intercepts_ : list of ndarray
    Encoder biases.
decoder_coefs_ : list of ndarray
    Decoder weights from the code to the output, shape (layer_out, layer_in).
decoder_intercepts_ : list of ndarray
    Decoder biases.
{training_attributes}"""

ARCHITECTURE_CONSTRAINTS = {
    "n_components": [Interval(Integral, 1, None, closed="left")],
    "hidden_layer_sizes": ["array-like"],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "decoder_activation": [StrOptions({"linear", "sigmoid"})],
    "loss": [StrOptions({"mse", "bce"})],
    "tied_weights": ["boolean"],
}


def _autoencoder_doc(activation):
    """`fill_doc` with the training and architecture pieces, the ``activation`` parameter
    showing the class's default."""
    return fill_doc(
        training=TRAINING_PIECES["training"],
        training_attributes=TRAINING_PIECES["attributes"],
        architecture=ARCHITECTURE_DOC,
        attributes=ARCHITECTURE_ATTRIBUTES_DOC,
        activation=(f'activation : {{"sigmoid", "tanh", "relu", "linear"}}, '
                    f'default="{activation}"\n'
                    "    Activation of every encoder layer (and of the decoder's hidden layers)."),
    )


class _BaseAutoencoder(_TorchTransformer):
    """Encoder/decoder architecture and the reconstruction loss."""

    _parameter_constraints: dict = {**ARCHITECTURE_CONSTRAINTS, **TRAINING_CONSTRAINTS}

    def _sizes(self, n_features):
        return [n_features, *(int(s) for s in self.hidden_layer_sizes), self.n_components]

    def _build_module(self, n_features):
        return AutoencoderModule(
            self._sizes(n_features), self.activation, self.decoder_activation, self.tied_weights
        )

    def _check_params(self):
        sizes = np.asarray(self.hidden_layer_sizes)
        if sizes.ndim != 1 or not all(isinstance(s, Integral) and s >= 1 for s in sizes.tolist()):
            raise ValueError(
                "hidden_layer_sizes must be a tuple of positive integers; "
                f"got {self.hidden_layer_sizes!r}."
            )
        if self.loss == "bce" and self.decoder_activation != "sigmoid":
            raise ValueError(
                'loss="bce" needs decoder_activation="sigmoid" (outputs in [0, 1]); '
                f"got decoder_activation={self.decoder_activation!r}."
            )

    def _check_data(self, X):
        if self.loss == "bce" and (X.min() < 0 or X.max() > 1):
            raise ValueError('loss="bce" needs X in [0, 1]; scale X (e.g. MinMaxScaler).')

    # pieces of the training loss that subclasses change
    def _corrupt(self, x, generator):
        return x

    def _graph_safe(self, module):
        return True  # no noise, no host synchronisation (the subclasses that draw say so)

    def _train_code(self, module, h):
        return h

    def _penalty(self, module, x, pre, post, logits, generator):
        return None

    def _batch_loss(self, module, x, generator):
        pre, post = module.encode_layers(self._corrupt(x, generator))
        logits = module.decode_logits(self._train_code(module, post[-1]))
        loss = reconstruction_loss(x, logits, self.loss, self.decoder_activation)
        penalty = self._penalty(module, x, pre, post, logits, generator)
        return loss if penalty is None else loss + penalty

    def _encode(self, module, x):
        return module.encode(x)

    def _decode(self, module, h):
        return module.decode(h)

    # coefs_ is a list: its first layer's array says where the model is under dispatch
    _namespace_attribute = "_first_coefs"

    @property
    def _first_coefs(self):
        return self.coefs_[0]

    def _export(self):
        module = self._module("cpu")
        self.coefs_ = _arrays(layer.weight for layer in module.encoder)
        self.intercepts_ = _arrays(layer.bias for layer in module.encoder)
        self.decoder_coefs_ = _arrays(module.decoder_weights())
        self.decoder_intercepts_ = _arrays(module.decoder_biases())


def _arrays(tensors):
    return [t.detach().numpy().copy() for t in tensors]


@_autoencoder_doc("sigmoid")
class Autoencoder(_BaseAutoencoder):
    r"""Plain autoencoder: :math:`h = s(Wx + b)`, :math:`r = s_d(W'h + b')`.

    Minimises the mean reconstruction error :math:`L(x, r)` with mini-batch
    gradient steps. With linear activations and the squared error it learns
    the principal subspace of the data (the span of PCA's components); it is
    also the unregularised baseline of the other autoencoders.

    Read more in the :ref:`User Guide <autoencoders>`.

    Parameters
    ----------
    {architecture}
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    SparseAutoencoder, KSparseAutoencoder, DenoisingAutoencoder, ContractiveAutoencoder

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import Autoencoder
    >>> X = np.random.RandomState(0).rand(200, 16)
    >>> ae = Autoencoder(n_components=4, max_iter=5, random_state=0, device="cpu").fit(X)
    >>> ae.transform(X).shape, ae.inverse_transform(ae.transform(X)).shape
    ((200, 4), (200, 16))
    """

    def __init__(
        self,
        n_components=100,
        *,
        hidden_layer_sizes=(),
        activation="sigmoid",
        decoder_activation="linear",
        loss="mse",
        tied_weights=False,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.loss = loss
        self.tied_weights = tied_weights
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


@_autoencoder_doc("sigmoid")
class SparseAutoencoder(_BaseAutoencoder):
    r"""Autoencoder with a KL sparsity penalty on the mean activations.

    With :math:`\hat\rho_j` the mean activation of code unit :math:`j` over a
    mini-batch, the loss is

    .. math:: \frac1n \sum_x L(x, r(x)) + \beta \sum_j KL(\rho \| \hat\rho_j),
              \quad KL(\rho \| \hat\rho) = \rho \log\frac{\rho}{\hat\rho}
              + (1 - \rho) \log\frac{1 - \rho}{1 - \hat\rho},

    which is 0 when :math:`\hat\rho_j = \rho` and grows as it departs from
    it: each unit is active (close to 1) for about a fraction :math:`\rho`
    of the samples. Needs sigmoid code units.

    Read more in the :ref:`User Guide <autoencoders>`.

    Parameters
    ----------
    sparsity_target : float, default=0.05
        :math:`\rho`, the target mean activation, in (0, 1).
    sparsity_weight : float, default=3.0
        :math:`\beta`.
    {architecture}
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    KSparseAutoencoder : sparsity by keeping the k largest units.
    SparseCoder : exact lasso codes on a learned dictionary.

    References
    ----------
    Ng, "Sparse autoencoder", CS294A lecture notes, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import SparseAutoencoder
    >>> X = np.random.RandomState(0).rand(200, 16)
    >>> sae = SparseAutoencoder(n_components=8, max_iter=5, random_state=0, device="cpu")
    >>> sae.fit(X).transform(X).shape
    (200, 8)
    """

    _parameter_constraints: dict = {
        "sparsity_target": [Interval(Real, 0, 1, closed="neither")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        **_BaseAutoencoder._parameter_constraints,
    }

    def __init__(
        self,
        n_components=100,
        *,
        sparsity_target=0.05,
        sparsity_weight=3.0,
        hidden_layer_sizes=(),
        activation="sigmoid",
        decoder_activation="linear",
        loss="mse",
        tied_weights=False,
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
        self.sparsity_target = sparsity_target
        self.sparsity_weight = sparsity_weight
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.loss = loss
        self.tied_weights = tied_weights
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

    def _check_params(self):
        super()._check_params()
        if self.activation != "sigmoid":
            raise ValueError(
                "SparseAutoencoder needs activation='sigmoid' (mean activations in (0, 1) "
                f"for the KL penalty); got activation={self.activation!r}."
            )

    def _penalty(self, module, x, pre, post, logits, generator):
        return self.sparsity_weight * kl_sparsity(post[-1], self.sparsity_target)


@_autoencoder_doc("linear")
class KSparseAutoencoder(_BaseAutoencoder):
    r"""k-sparse autoencoder (Makhzani & Frey, 2013).

    In training only the :math:`k` largest code units of each sample are
    kept, :math:`z = h \odot 1[h \in \mathrm{top}_k(h)]`, and the error is
    back-propagated through them only. ``transform`` keeps the
    :math:`\lceil \alpha_k k \rceil` largest units of each sample (the
    paper's :math:`\alpha k` encoding), so a sample's code never depends on
    the other samples. Units that have not been selected for 4096
    consecutive training samples are *dead*; an auxiliary loss (weight
    ``aux_weight``) asks the top-:math:`k` dead units to reconstruct the
    residual :math:`x - r`, which brings them back into use.

    Small :math:`k` forces each unit to explain a whole sample (global,
    template-like features); large :math:`k` gives local features (strokes,
    edges).

    Read more in the :ref:`User Guide <autoencoders>`.

    Parameters
    ----------
    k : int, default=10
        Units kept per sample in training (all of them, with a warning, if
        ``k >= n_components``). The codes of ``transform`` have
        ``ceil(alpha_k * k)`` non-zeros: 30 with the defaults; ``alpha_k=1`` gives
        exactly ``k``.
    alpha_k : float, default=3.0
        ``transform`` keeps ``ceil(alpha_k * k)`` units (at most ``n_components``):
        the paper's encoding, denser than training's.
    aux_weight : float, default=1/32
        Weight of the dead-unit auxiliary loss (0 disables it).
    {architecture}
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    SparseAutoencoder : sparsity by a KL penalty on the mean activations.
    PSDEncoder : a fast encoder trained to predict lasso codes.

    References
    ----------
    Makhzani and Frey, "k-Sparse Autoencoders", ICLR 2014 (arXiv:1312.5663).

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import KSparseAutoencoder
    >>> X = np.random.RandomState(0).randn(200, 16)
    >>> ksae = KSparseAutoencoder(n_components=32, k=4, alpha_k=1.0, max_iter=5,
    ...                           random_state=0, device="cpu").fit(X)
    >>> int((ksae.transform(X) != 0).sum(axis=1).max())
    4
    """

    _DEAD_AFTER = 4096

    _parameter_constraints: dict = {
        "k": [Interval(Integral, 1, None, closed="left")],
        "alpha_k": [Interval(Real, 1, None, closed="left")],
        "aux_weight": [Interval(Real, 0, None, closed="left")],
        **_BaseAutoencoder._parameter_constraints,
    }

    def __init__(
        self,
        n_components=100,
        *,
        k=10,
        alpha_k=3.0,
        aux_weight=1 / 32,
        hidden_layer_sizes=(),
        activation="linear",
        decoder_activation="linear",
        loss="mse",
        tied_weights=False,
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
        self.k = k
        self.alpha_k = alpha_k
        self.aux_weight = aux_weight
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.loss = loss
        self.tied_weights = tied_weights
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
    def _k(self):
        return min(self.k, self.n_components)

    def _check_params(self):
        super()._check_params()
        if self.k >= self.n_components:
            warn_user(
                f"KSparseAutoencoder: k={self.k} keeps all n_components={self.n_components} "
                "units, so the codes are not sparse; choose k < n_components.", UserWarning)

    def _build_module(self, n_features):
        module = super()._build_module(n_features)
        # samples since each unit was last in a top-k: moves and pickles with the weights
        module.register_buffer("since_fired", torch.zeros(self.n_components))
        return module

    def _train_code(self, module, h):
        mask = topk_mask(h, self._k)
        with torch.no_grad():
            module.since_fired += h.shape[0]
            module.since_fired.masked_fill_(mask.any(dim=0), 0)
        return torch.where(mask, h, 0.0)

    def _penalty(self, module, x, pre, post, logits, generator):
        if self.aux_weight == 0:
            return None
        # decided on the device: no host synchronisation in the training step
        dead = module.since_fired > self._DEAD_AFTER
        h = post[-1]
        dead_h = torch.where(dead, h, torch.full_like(h, -torch.inf))
        z = torch.where(topk_mask(dead_h, self._k) & dead, h, torch.zeros_like(h))
        # the dead units' contribution to the output, biases removed
        e_hat = module.decode_logits(z) - module.decode_logits(torch.zeros_like(z))
        residual = (x - output_activation(self.decoder_activation, logits)).detach()
        aux = ((residual - e_hat) ** 2).sum(dim=1).mean()
        return self.aux_weight * aux * dead.any()  # no term while no unit is dead

    def _encode(self, module, x):
        h = module.encode(x)
        k = min(self.n_components, math.ceil(self.alpha_k * self._k))
        return torch.where(topk_mask(h, k), h, 0.0)


@_autoencoder_doc("sigmoid")
class DenoisingAutoencoder(_BaseAutoencoder):
    r"""Denoising autoencoder (Vincent et al., 2008).

    Trained to reconstruct each clean sample from a corrupted copy
    :math:`\tilde x \sim q(\tilde x | x)`:

    .. math:: \frac1n \sum_x E_{q(\tilde x | x)} L\big(x, g(h(\tilde x))\big),

    with masking noise (each input set to 0 with probability ``noise_level``)
    or additive gaussian noise (standard deviation ``noise_level``). It
    cannot simply copy its input, so it learns to project corrupted samples
    back onto the data. ``transform`` and `denoise` use no noise.

    Read more in the :ref:`User Guide <autoencoders>`.

    Parameters
    ----------
    noise : {"mask", "gaussian"}, default="mask"
        Corruption process.
    noise_level : float, default=0.3
        Masking probability q (in [0, 1)) or gaussian standard deviation.
    {architecture}
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    ContractiveAutoencoder : robustness by penalising the encoder's Jacobian.
    Autoencoder : the plain reconstruction objective.

    References
    ----------
    Vincent, Larochelle, Bengio and Manzagol, "Extracting and composing robust
    features with denoising autoencoders", ICML 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import DenoisingAutoencoder
    >>> X = np.random.RandomState(0).rand(200, 16)
    >>> dae = DenoisingAutoencoder(n_components=8, max_iter=5, random_state=0, device="cpu")
    >>> dae.fit(X).denoise(X).shape
    (200, 16)
    """

    _parameter_constraints: dict = {
        "noise": [StrOptions({"mask", "gaussian"})],
        "noise_level": [Interval(Real, 0, None, closed="left")],
        **_BaseAutoencoder._parameter_constraints,
    }

    def __init__(
        self,
        n_components=100,
        *,
        noise="mask",
        noise_level=0.3,
        hidden_layer_sizes=(),
        activation="sigmoid",
        decoder_activation="linear",
        loss="mse",
        tied_weights=False,
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
        self.noise = noise
        self.noise_level = noise_level
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.loss = loss
        self.tied_weights = tied_weights
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

    def _check_params(self):
        super()._check_params()
        if self.noise == "mask" and self.noise_level >= 1:
            raise ValueError(
                f'noise="mask" needs noise_level in [0, 1); got noise_level={self.noise_level}.'
            )

    def _corrupt(self, x, generator):
        return corrupt(x, self.noise, self.noise_level, generator)

    def _graph_safe(self, module):
        return False  # fresh noise every step

    def denoise(self, X):
        """Reconstruction of (possibly corrupted) samples: ``inverse_transform(transform(X))``.

        {transform_parameters}

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        _, rec, namespace = self._reconstruction(X, "denoise")
        return _returned(rec, namespace)


@_autoencoder_doc("sigmoid")
class ContractiveAutoencoder(_BaseAutoencoder):
    r"""Contractive autoencoder (Rifai et al., 2011).

    Penalises the sensitivity of the code to the input:

    .. math:: \frac1n \sum_x L(x, r(x)) + \lambda \|J_h(x)\|_F^2,
              \quad J_h(x) = \frac{\partial h(x)}{\partial x}.

    For a one-layer encoder :math:`h = s(Wx + b)`,
    :math:`\|J\|_F^2 = \sum_j s'(a_j)^2 \|W_j\|^2` in closed form
    (:math:`s' = h(1 - h)` for the sigmoid, :math:`1 - h^2` for tanh,
    :math:`1[a > 0]` for relu). For a stacked encoder the penalty is the
    unbiased estimate :math:`\|J^\top u\|^2`, :math:`u \sim N(0, I)`, one
    vector-Jacobian product per step. It is the small-noise limit of
    :math:`E\|h(x) - h(x + \epsilon)\|^2 / \sigma^2`: the code stays flat
    along directions the data does not vary in.

    Read more in the :ref:`User Guide <autoencoders>`.

    Parameters
    ----------
    contraction : float, default=0.1
        :math:`\lambda`.
    {architecture}
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DenoisingAutoencoder : robustness by reconstructing corrupted inputs.
    Autoencoder : the plain reconstruction objective.

    References
    ----------
    Rifai, Vincent, Muller, Glorot and Bengio, "Contractive auto-encoders:
    explicit invariance during feature extraction", ICML 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import ContractiveAutoencoder
    >>> X = np.random.RandomState(0).rand(200, 16)
    >>> cae = ContractiveAutoencoder(n_components=8, max_iter=5, random_state=0, device="cpu")
    >>> cae.fit(X).transform(X).shape
    (200, 8)
    """

    _parameter_constraints: dict = {
        "contraction": [Interval(Real, 0, None, closed="left")],
        **_BaseAutoencoder._parameter_constraints,
    }

    def __init__(
        self,
        n_components=100,
        *,
        contraction=0.1,
        hidden_layer_sizes=(),
        activation="sigmoid",
        decoder_activation="linear",
        loss="mse",
        tied_weights=False,
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
        self.contraction = contraction
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.loss = loss
        self.tied_weights = tied_weights
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

    def _graph_safe(self, module):
        # the stacked encoders' penalty draws random projections
        return self.contraction == 0 or len(module.encoder) == 1

    def _penalty(self, module, x, pre, post, logits, generator):
        if self.contraction == 0:
            return None
        if len(module.encoder) == 1:
            jac = contractive_penalty(module.encoder[0].weight, pre[0], post[0], self.activation)
        else:
            jac = contractive_penalty_projection(x, module.encode, generator)
        return self.contraction * jac
