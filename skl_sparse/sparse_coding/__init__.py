"""Sparse coding and dictionary learning: `SparseCoder` (lasso codes, a dictionary learned
in batch or given), `OnlineDictionaryLearner` (Mairal et al. 2009) and the coding function
`sparse_encode`, with the function layer they share (`_encode`: coding tensors and numpy
arrays in batches; `_dict_learning`: the batch alternation and the online epoch;
`_dictionary`: the dictionary updates) and their private bases (`_base`). It imports the
solvers (`skl_sparse._solvers`) and the lower layers, never another family.
"""

from ._encode import sparse_encode
from ._online_dictionary import OnlineDictionaryLearner
from ._sparse_coder import SparseCoder

__all__ = ["OnlineDictionaryLearner", "SparseCoder", "sparse_encode"]
