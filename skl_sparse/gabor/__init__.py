"""Gabor functions: fitting them to learned filters (`fit_gabor`, `fit_gabor_dictionary`,
`gabor_kernel`; numpy and scipy), rendering and learning them in torch (`_conv`: the
filters and `GaborConv2d`, public in :mod:`skl_sparse.nn`), and dictionaries of Gabor atoms
(`GaborDictionaryLearner`). It imports `skl_sparse.sparse_coding` (the online learning
that `GaborDictionaryLearner` shares) and the lower layers.
"""

from ._dictionary import GaborDictionaryLearner
from ._fit import fit_gabor, fit_gabor_dictionary, gabor_kernel

__all__ = ["GaborDictionaryLearner", "fit_gabor", "fit_gabor_dictionary", "gabor_kernel"]
