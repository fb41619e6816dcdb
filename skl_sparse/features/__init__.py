"""Whole-image features: `ImagePatchEncoder` codes dense patches with any fitted patch
pipeline and pools the codes over a spatial grid (Coates & Ng). It imports the public
estimators of `skl_sparse.preprocessing` and `skl_sparse.sparse_coding` (its default
patch pipeline) and the lower layers.
"""

from ._image_patches import ImagePatchEncoder

__all__ = ["ImagePatchEncoder"]
