"""Trained torch encoders: the five autoencoders, `PSDEncoder` and `LISTAEncoder`, on the
training core they share (`_base._TorchTransformer`: validation, device, seeding,
batching, optimiser, early stopping, ``partial_fit``, pickling) and their torch modules
and loss functions (`_modules`). It imports `skl_sparse.sparse_coding`'s function layer
(PSD and LISTA code with the lasso and learn dictionaries) and the lower layers.
"""

from ._autoencoder import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    SparseAutoencoder,
)
from ._lista import LISTAEncoder
from ._psd import PSDEncoder

__all__ = [
    "Autoencoder",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "KSparseAutoencoder",
    "LISTAEncoder",
    "PSDEncoder",
    "SparseAutoencoder",
]
