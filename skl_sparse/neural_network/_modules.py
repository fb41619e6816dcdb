"""Torch building blocks of the autoencoders: modules and pure loss functions.

No validation here (the estimators validate). Conventions: a batch is a
tensor ``x`` of shape (n, n_features); weights follow ``torch.nn.Linear``
(``out x in``); every loss returns the mean over the samples of the batch of a
per-sample sum, so it does not depend on the batch size.
"""

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "linear": lambda a: a,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}


def activation_derivative(name, a, h):
    """Derivative of activation ``name`` at pre-activation ``a`` (``h`` = its value)."""
    if name == "sigmoid":
        return h * (1 - h)
    if name == "tanh":
        return 1 - h * h
    if name == "relu":
        return (a > 0).to(a.dtype)
    return torch.ones_like(a)


def linear_layers(sizes):
    """``nn.Linear`` layers ``sizes[0] -> sizes[1] -> ...``, left uninitialised.

    `init_parameters_` fills them from the estimator's own generator: torch's
    default initialisation would draw from (and advance) the global RNG.
    """
    return nn.ModuleList(
        nn.utils.skip_init(nn.Linear, a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )


def init_parameters_(module, generator):
    """Glorot-uniform weight matrices, zero vectors, drawn from ``generator``."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 2:
                bound = (6.0 / (p.shape[0] + p.shape[1])) ** 0.5
                p.uniform_(-bound, bound, generator=generator)
            else:
                p.zero_()


class AutoencoderModule(nn.Module):
    """Fully connected encoder ``sizes[0] -> ... -> sizes[-1]`` and its mirror decoder.

    Every encoder layer applies ``activation``; the decoder's hidden layers too,
    and its output layer ``decoder_activation`` (returned as logits by
    `decode_logits` so that the cross-entropy is computed stably). With
    ``tied`` the decoder reuses the transposed encoder weights and only owns
    its biases.
    """

    def __init__(self, sizes, activation, decoder_activation, tied):
        super().__init__()
        self.activation = activation
        self.decoder_activation = decoder_activation
        self.tied = tied
        self.encoder = linear_layers(sizes)
        back = sizes[::-1]
        if tied:
            self.decoder_bias = nn.ParameterList(nn.Parameter(torch.zeros(b)) for b in back[1:])
        else:
            self.decoder = linear_layers(back)

    def encode_layers(self, x):
        """Pre-activations and activations of every encoder layer."""
        act = ACTIVATIONS[self.activation]
        pre, post = [], []
        for layer in self.encoder:
            a = layer(x)
            x = act(a)
            pre.append(a)
            post.append(x)
        return pre, post

    def encode(self, x):
        return self.encode_layers(x)[1][-1]

    def decoder_weights(self):
        """Decoder weights (``out x in``) from the code to the output layer."""
        if self.tied:
            return [layer.weight.t() for layer in reversed(self.encoder)]
        return [layer.weight for layer in self.decoder]

    def decoder_biases(self):
        if self.tied:
            return list(self.decoder_bias)
        return [layer.bias for layer in self.decoder]

    def decode_logits(self, h):
        act = ACTIVATIONS[self.activation]
        weights, biases = self.decoder_weights(), self.decoder_biases()
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = F.linear(h, w, b)
            if i < len(weights) - 1:
                h = act(h)
        return h

    def decode(self, h):
        return output_activation(self.decoder_activation, self.decode_logits(h))


def output_activation(name, logits):
    return torch.sigmoid(logits) if name == "sigmoid" else logits


def reconstruction_loss(x, logits, loss, decoder_activation):
    """Mean per-sample reconstruction error: squared error or Bernoulli cross-entropy."""
    if loss == "bce":
        per = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per = (output_activation(decoder_activation, logits) - x) ** 2
    return per.sum(dim=1).mean()


def kl_sparsity(h, rho, eps=1e-6):
    r"""Sum over units j of :math:`KL(\rho \| \hat\rho_j)`, batch mean activations.

    :math:`KL = \rho \log(\rho / \hat\rho_j) + (1 - \rho) \log((1 - \rho) / (1 - \hat\rho_j))`.
    """
    rho_hat = h.mean(dim=0).clamp(eps, 1 - eps)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


def contractive_penalty(weight, pre, h, activation):
    r"""Closed-form mean :math:`\|J_h(x)\|_F^2` of a one-layer encoder :math:`h = s(Wx + b)`.

    :math:`J = \mathrm{diag}(s'(a)) W`, so
    :math:`\|J\|_F^2 = \sum_j s'(a_j)^2 \|W_j\|^2`, e.g.
    :math:`\sum_j (h_j (1 - h_j))^2 \|W_j\|^2` for the sigmoid.
    """
    d = activation_derivative(activation, pre, h)
    return ((d * d) @ (weight * weight).sum(dim=1)).mean()


def contractive_penalty_projection(x, encode, generator, n_projections=1):
    r"""Unbiased estimate of the mean :math:`\|J_h(x)\|_F^2` for any encoder.

    :math:`\|J\|_F^2 = E_u \|J^\top u\|^2` for :math:`u \sim N(0, I)` in code
    space; each vector-Jacobian product is one differentiable backward pass.
    """
    x = x.detach().requires_grad_(True)
    h = encode(x)
    total = 0.0
    for _ in range(n_projections):
        u = torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        (g,) = torch.autograd.grad(h, x, grad_outputs=u, create_graph=True)
        total = total + (g * g).sum(dim=1).mean()
    return total / n_projections


def topk_mask(h, k):
    """Boolean mask of the ``k`` largest entries of every row (ties broken by index)."""
    idx = torch.topk(h, k, dim=1, sorted=False).indices
    return torch.zeros_like(h, dtype=torch.bool).scatter_(1, idx, True)


def corrupt(x, noise, level, generator):
    """Masking noise (each input set to 0 with probability ``level``) or additive gaussian."""
    if level == 0:
        return x
    if noise == "mask":
        keep = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) >= level
        return x * keep
    return x + level * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
