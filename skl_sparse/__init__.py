"""skl_sparse: scikit-learn compatible sparse coding, dictionary learning, autoencoders."""

from ._autoencoder import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    SparseAutoencoder,
)
from ._encode import sparse_encode
from ._gabor_dictionary import GaborDictionaryLearner
from ._lista import LISTAEncoder
from ._online_dictionary import OnlineDictionaryLearner
from ._psd import PSDEncoder
from ._sparse_coder import SparseCoder
from ._whitening import ZCAWhitener
from .features import ImagePatchEncoder

__version__ = "0.1.0"

__all__ = [
    "Autoencoder",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "GaborDictionaryLearner",
    "ImagePatchEncoder",
    "KSparseAutoencoder",
    "LISTAEncoder",
    "OnlineDictionaryLearner",
    "PSDEncoder",
    "SparseAutoencoder",
    "SparseCoder",
    "ZCAWhitener",
    "sparse_encode",
    "__version__",
]
