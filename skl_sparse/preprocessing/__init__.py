"""Preprocessing: ZCA whitening (`ZCAWhitener`), the usual first step before sparse coding
natural-image patches. It imports only the private lower layers (the estimator base,
validation, device plumbing).
"""

from ._whitening import ZCAWhitener

__all__ = ["ZCAWhitener"]
