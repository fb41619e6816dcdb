"""skl_sparse: scikit-learn compatible sparse coding and dictionary learning on torch."""

from ._sparse_coding import OnlineDictionaryLearner, SparseCoder, sparse_encode
from ._whitening import ZCAWhitener

__version__ = "0.1.0"

__all__ = ["OnlineDictionaryLearner", "SparseCoder", "ZCAWhitener", "sparse_encode", "__version__"]
