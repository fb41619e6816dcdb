"""skl_sparse: scikit-learn compatible sparse coding, dictionary learning, autoencoders."""

from ._config import LassoPolicy, config_context, get_config, set_config
from .features import ImagePatchEncoder
from .gabor import GaborDictionaryLearner
from .neural_network import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    LISTAEncoder,
    PSDEncoder,
    SparseAutoencoder,
)
from .preprocessing import ZCAWhitener
from .sparse_coding import OnlineDictionaryLearner, SparseCoder, sparse_encode

__version__ = "0.2.0.dev0"

__all__ = [
    "Autoencoder",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "GaborDictionaryLearner",
    "ImagePatchEncoder",
    "KSparseAutoencoder",
    "LISTAEncoder",
    "LassoPolicy",
    "OnlineDictionaryLearner",
    "PSDEncoder",
    "SparseAutoencoder",
    "SparseCoder",
    "ZCAWhitener",
    "config_context",
    "get_config",
    "set_config",
    "sparse_encode",
    "__version__",
]
