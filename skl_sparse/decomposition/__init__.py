"""scikit-learn's dictionary-learning API on skl_sparse's engines: change
``from sklearn.decomposition import ...`` to ``from skl_sparse.decomposition import ...``.

`DictionaryLearning`, `MiniBatchDictionaryLearning`, `SparseCoder`, `sparse_encode`,
`dict_learning` and `dict_learning_online` take scikit-learn 1.9's parameters (names,
positional order, defaults; ``device`` is the one addition), keep its fitted attributes,
warnings and errors, and compute with our coding layer and dictionary updates (thin
adapters in `_encode` and `_dict_learning`). It imports the sparse-coding family below it.
"""

from ._dict_learning import (
    DictionaryLearning,
    MiniBatchDictionaryLearning,
    SparseCoder,
    dict_learning,
    dict_learning_online,
)
from ._encode import sparse_encode

__all__ = [
    "DictionaryLearning",
    "MiniBatchDictionaryLearning",
    "SparseCoder",
    "dict_learning",
    "dict_learning_online",
    "sparse_encode",
]
