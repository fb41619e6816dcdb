"""The lecture's experiments: self-taught learning and Caltech-101 object recognition.

Self-taught learning (Raina et al., 2007): features are learned on *unlabeled* data of
one kind and used to classify a *different*, labelled set, with few labels. The table
has the lecture's shape: one row per representation (Raw pixels, PCA, Sparse coding,
then the autoencoders), one column per number of labelled training examples; each cell
is the test accuracy of a logistic regression whose C (and, for sparse coding, the
coding alpha) is tuned by cross-validated grid search on the labelled examples only.

* ``self-taught`` (offline default): features learned on scikit-learn's handwritten
  digits 5-9, classifier on digits 0-4. "Sparse coding" pools the codes of half-size
  patches (a 32-atom dictionary on whitened patches, split by sign, summed over a
  1x1 + 2x2 grid); "Sparse coding (whole image)" codes the whole image.
  ``--dataset mnist`` runs the same on MNIST (downloaded through OpenML once).
* ``caltech101``: whole-image features (dense patches coded, then pooled over a
  1x1 + 2x2 grid, :class:`skl_sparse.features.ImagePatchEncoder`) on Caltech-101 with
  ``--data-home`` (downloaded once), or offline on a stand-in made of real photographs
  that ship with scikit-image: its ``lfw_subset``, 100 faces and 100 non-face crops
  (like Caltech's "Faces" against background clutter).

    python -m skl_sparse.experiments self-taught [--dataset digits|mnist] [--output atoms.png]
    python -m skl_sparse.experiments caltech101 [--data-home DIR] [--output atoms.png]
    python -m skl_sparse.experiments gabor [--output gabor.png]
    python -m skl_sparse.experiments gabor-recovery [--n-trials 200]
    python -m skl_sparse.experiments gabor-dictionary [--n-components 100]

Add ``--gabor`` to ``self-taught`` and ``caltech101`` for a row of Gabor-parameterised
patch atoms (:class:`skl_sparse.GaborDictionaryLearner`).

This package is the application layer: it composes the public estimators and nothing in
the library imports it. `_classification` holds the accuracy tables, `_gabor` the Gabor
experiments (which reuse those tables), `_cli` the command line.
"""

from ._classification import caltech101, format_table, self_taught
from ._cli import main
from ._gabor import gabor_analysis, gabor_dictionary_comparison, gabor_recovery

__all__ = [
    "caltech101",
    "format_table",
    "gabor_analysis",
    "gabor_dictionary_comparison",
    "gabor_recovery",
    "main",
    "self_taught",
]
