"""Self-taught learning and Caltech-101 object recognition: the tables of the lecture.

One row per representation (Raw pixels, PCA, Sparse coding, then the autoencoders), one
column per number of labelled training examples; each cell is the test accuracy of a
logistic regression whose C (and, for sparse coding, the coding alpha) is tuned by
cross-validated grid search on the labelled examples only.
"""

import time

import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from ..features import ImagePatchEncoder
from ..gabor import GaborDictionaryLearner
from ..neural_network import DenoisingAutoencoder, SparseAutoencoder
from ..preprocessing import ZCAWhitener
from ..sparse_coding import OnlineDictionaryLearner, SparseCoder

__all__ = ["caltech101", "format_table", "self_taught"]

C_GRID = [0.01, 0.1, 1.0, 10.0]


def _log(verbose, message):
    if verbose:
        print(message, flush=True)


def format_table(title, sizes, rows):
    """The lecture's table: rows of accuracies (%), one column per labelled size."""
    width = max(len(name) for name in rows) + 2
    lines = [title, f"{'':<{width}}" + "".join(f"{n:>8}" for n in sizes)]
    for name, accs in rows.items():
        lines.append(f"{name:<{width}}" + "".join(f"{100 * a:>8.1f}" for a in accs))
    return "\n".join(lines)


def _evaluate(features, grid, X_lab, y_lab, X_test, y_test, sizes, repeats, seed):
    """Mean test accuracy per labelled size of ``features`` + tuned logistic regression."""
    pipe = Pipeline([("features", features), ("scale", StandardScaler()),
                     ("clf", LogisticRegression(max_iter=2000))])
    accs = []
    for n in sizes:
        scores = []
        for r in range(repeats):
            if n < len(y_lab):
                X_tr, _, y_tr, _ = train_test_split(X_lab, y_lab, train_size=n,
                                                    stratify=y_lab, random_state=seed + r)
            else:  # the whole labelled pool: one draw is all there is
                X_tr, y_tr = X_lab, y_lab
            folds = min(3, int(np.bincount(y_tr).min()))
            search = GridSearchCV(pipe, {"clf__C": C_GRID, **grid},
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
            scores.append(search.fit(X_tr, y_tr).score(X_test, y_test))
        accs.append(float(np.mean(scores)))
    return accs


def _pca(X, n_components, seed):
    """The PCA row, tuned as fairly as the coders' alpha: the number of components (an
    eighth to all of ``n_components``) and whether the classifier's input is
    standardised (which would blow the noise directions up to the size of the signal)
    are chosen by the same grid search."""
    sizes = sorted({max(1, n_components // d) for d in (8, 4, 2, 1)} & set(
        range(1, min(X.shape) + 1)))
    pcas = [FrozenEstimator(PCA(k, random_state=seed).fit(X)) for k in sizes]
    return pcas[-1], {"features": pcas, "scale": [StandardScaler(), "passthrough"]}


def _patch_learners(n_atoms, alpha, seed, gabor):
    """The patch dictionaries of the "Sparse coding" rows: free atoms, and Gabor atoms."""
    learners = {"Sparse coding": OnlineDictionaryLearner(n_atoms, alpha=alpha, max_iter=5,
                                                         random_state=seed)}
    if gabor:
        learners["Sparse coding (Gabor atoms)"] = GaborDictionaryLearner(
            n_atoms, alpha=alpha, max_iter=5, random_state=seed)
    return learners


def _representations(X_unlab, shape, n_components, alphas, seed, verbose, gabor=False):
    """Feature learners fitted on the unlabeled data, with their grids."""
    reps = {"Raw": (FunctionTransformer(), {})}
    reps["PCA"] = _pca(X_unlab, n_components, seed)
    # codes of half-size patches pooled over the image (Coates & Ng): the main row
    patch = (shape[0] // 2, shape[1] // 2)
    for name, learner in _patch_learners(32, 0.1, seed, gabor).items():
        t0 = time.perf_counter()
        patches = ImagePatchEncoder(
            make_pipeline(ZCAWhitener(eps=0.1), learner), image_shape=shape, patch_size=patch,
            step=max(1, shape[0] // 8), split_sign=True, random_state=seed,
        ).fit(X_unlab)
        reps[name] = (FrozenEstimator(patches), {})
        _log(verbose, f"  {name}: 32 atoms of {patch[0]}x{patch[1]} "
                      f"({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    odl = OnlineDictionaryLearner(n_components, alpha=alphas[len(alphas) // 2], max_iter=10,
                                  random_state=seed).fit(X_unlab)
    coder = SparseCoder(alpha=alphas[0], dictionary=odl.components_)
    reps["Sparse coding (whole image)"] = (coder, {"features__alpha": list(alphas)})
    _log(verbose, f"  whole-image dictionary: {n_components} atoms "
                  f"({time.perf_counter() - t0:.1f} s)")
    common = {"n_components": n_components, "learning_rate": 1e-2, "max_iter": 100,
              "random_state": seed}
    for name, est in [("Sparse autoencoder", SparseAutoencoder(**common)),
                      ("Denoising autoencoder", DenoisingAutoencoder(**common))]:
        t0 = time.perf_counter()
        reps[name] = (FrozenEstimator(est.fit(X_unlab)), {})
        _log(verbose, f"  {name}: {est.n_iter_} epochs ({time.perf_counter() - t0:.1f} s)")
    return reps, odl


def _run_table(title, X_unlab, X_lab, y_lab, X_test, y_test, sizes, *, shape, n_components,
               alphas, repeats, seed, verbose, gabor):
    _log(verbose, f"{title}: learning features on {len(X_unlab)} unlabeled samples")
    reps, odl = _representations(X_unlab, shape, n_components, alphas, seed, verbose, gabor)
    return _score(reps, X_lab, y_lab, X_test, y_test, sizes, repeats, seed, verbose), reps, odl


def _best_atoms(rows, reps, odl, shape):
    """The dictionary behind the best dictionary row of the table (mean accuracy over the
    labelled sizes): ``(row name, atoms, atom shape)``."""
    patch = (shape[0] // 2, shape[1] // 2)
    whole = "Sparse coding (whole image)"
    learned = {name: (reps[name][0].estimator.patch_encoder_[-1].components_, patch)
               for name in reps if name.startswith("Sparse coding") and name != whole}
    learned[whole] = (odl.components_, shape)
    best = max(learned, key=lambda name: sum(rows[name]) / len(rows[name]))
    return (best, *learned[best])


def _score(reps, X_lab, y_lab, X_test, y_test, sizes, repeats, seed, verbose):
    """Accuracy rows of every representation."""
    rows = {}
    for name, (features, grid) in reps.items():
        t0 = time.perf_counter()
        rows[name] = _evaluate(features, grid, X_lab, y_lab, X_test, y_test, sizes, repeats,
                               seed)
        accs = ", ".join(f"{a:.3f}" for a in rows[name])
        _log(verbose, f"  {name}: {accs} ({time.perf_counter() - t0:.1f} s)")
    return rows


def self_taught(dataset="digits", *, data_home=None, sizes=None, repeats=3, random_state=0,
                output=None, gabor=False, verbose=1):
    """Self-taught learning: features from digits 5-9, classifier on digits 0-4.

    Parameters
    ----------
    dataset : {"digits", "mnist"}, default="digits"
        ``digits``: scikit-learn's 8x8 digits (offline, 1797 images); ``mnist``: 28x28
        MNIST through OpenML (downloaded once into ``data_home``).
    data_home : str, default=None
    sizes : list of int, default=None
        Labelled training examples per column; (20, 100, 400) for digits, the lecture's
        (100, 500, 1000) for MNIST.
    repeats : int, default=3
        Random draws of the labelled examples averaged per cell.
    random_state : int, default=0
    output : str, default=None
        Where to save the figure of the learned atoms (PNG).
    gabor : bool, default=False
        Add the row "Sparse coding (Gabor atoms)": the patch dictionary learned by
        :class:`~skl_sparse.GaborDictionaryLearner` instead of free atoms.
    verbose : int, default=1

    Returns
    -------
    table : str
    rows : dict of list of float
        Test accuracy per representation and labelled size.

    Examples
    --------
    >>> from skl_sparse.experiments import self_taught
    >>> table, rows = self_taught(sizes=(20,), repeats=1, verbose=0)  # doctest: +SKIP
    >>> sorted(rows)[:2]  # doctest: +SKIP
    ['Denoising autoencoder', 'PCA']
    """
    if dataset == "digits":
        X, y = load_digits(return_X_y=True)
        X, shape = X / 16.0, (8, 8)
        sizes = sizes or (20, 100, 400)
        n_components, alphas = 64, (0.05, 0.1, 0.2)
    elif dataset == "mnist":
        from ..datasets import fetch_mnist

        data = fetch_mnist(data_home)
        X, y, shape = data.images.reshape(len(data.images), -1), data.target, (28, 28)
        sizes = sizes or (100, 500, 1000)
        n_components, alphas = 256, (0.1, 0.3, 1.0)
    else:
        raise ValueError(f"dataset must be 'digits' or 'mnist'; got {dataset!r}.")
    unlab = y >= 5
    X_lab, X_test, y_lab, y_test = train_test_split(X[~unlab], y[~unlab], test_size=0.5,
                                                    stratify=y[~unlab],
                                                    random_state=random_state)
    title = (f"Self-taught learning ({dataset}): features from digits 5-9, test accuracy (%) "
             f"on digits 0-4 ({len(X_test)} test images) vs labelled training examples")
    rows, reps, odl = _run_table(
        title, X[unlab], X_lab, y_lab, X_test, y_test, list(sizes), shape=shape,
        n_components=n_components, alphas=alphas, repeats=repeats, seed=random_state,
        verbose=verbose, gabor=gabor)
    if output:
        name, atoms, atom_shape = _best_atoms(rows, reps, odl, shape)
        _save_atoms(atoms, atom_shape, output,
                    f'{len(atoms)} atoms of {atom_shape[0]}x{atom_shape[1]} pixels behind '
                    f'the best dictionary row, "{name}" (learned on digits 5-9)')
        _log(verbose, f'atoms of "{name}" ({atom_shape[0]}x{atom_shape[1]}) saved to {output}')
    return format_table(title, list(sizes), rows), rows


def caltech101(*, data_home=None, categories=None, image_size=(64, 64), sizes=None,
               repeats=3, random_state=0, output=None, gabor=False, verbose=1):
    """Object recognition from pooled sparse codes of dense patches.

    Without ``data_home`` (and without Caltech-101 in scikit-learn's data folder) the
    offline stand-in is used: scikit-image's ``lfw_subset``, 100 faces and 100 non-face
    photographs of 25x25 pixels. With ``data_home``, Caltech-101 is loaded (downloaded
    once), ``categories`` (all 101 by default) resized to ``image_size``.

    Parameters
    ----------
    data_home : str, default=None
    categories : list of str, default=None
    image_size : tuple of int, default=(64, 64)
    sizes : list of int, default=None
        Labelled training images per class and column; (5, 15, 30) by default (the
        lecture's Caltech protocol uses 15 and 30).
    repeats : int, default=3
    random_state : int, default=0
    output : str, default=None
        PNG of the patch dictionary.
    gabor : bool, default=False
        Add the row "Sparse coding (Gabor atoms)" (see `self_taught`).
    verbose : int, default=1

    Returns
    -------
    table : str
    rows : dict of list of float

    Examples
    --------
    >>> from skl_sparse.experiments import caltech101
    >>> table, rows = caltech101(sizes=(5,), repeats=1, verbose=0)  # doctest: +SKIP
    >>> print(table)  # doctest: +SKIP
    """
    if data_home is None:
        from ..datasets import load_faces_standin

        data = load_faces_standin()
        images, y, names = data.images, data.target, data.target_names
        what, patch = "offline stand-in: scikit-image lfw_subset, faces vs non-faces", (5, 5)
    else:
        from ..datasets import fetch_caltech101

        data = fetch_caltech101(data_home, image_size=image_size, categories=categories)
        images, y, names = data.images, data.target, data.target_names
        what, patch = f"Caltech-101, {len(names)} categories", (6, 6)
    sizes = list(sizes or (5, 15, 30))
    rng = np.random.RandomState(random_state)
    # per class: the largest training size for the labelled pool, the rest for testing
    lab = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        lab[idx[: max(sizes)]] = True
    X_flat = images.reshape(len(images), -1)
    shape = images.shape[1:]
    n_classes = len(names)
    patches_for = ImagePatchEncoder(image_shape=shape, patch_size=patch, n_fit_patches=20000,
                                    random_state=random_state)
    title = (f"Object recognition ({what}): test accuracy (%) vs labelled training images "
             f"per class ({(~lab).sum()} test images)")
    _log(verbose, title)
    reps = {
        "Raw": (FunctionTransformer(), {}),
        "PCA": _pca(X_flat, 64, random_state),
    }
    # PCA and the patch dictionaries are learned from all images without their labels
    for name, learner in _patch_learners(64, 0.3, random_state, gabor).items():
        t0 = time.perf_counter()
        encoder = clone(patches_for).set_params(
            patch_encoder=make_pipeline(ZCAWhitener(eps=0.1), learner), step=2,
            split_sign=True).fit(X_flat)
        reps[name] = (FrozenEstimator(encoder), {})
        _log(verbose, f"  {name} ({time.perf_counter() - t0:.1f} s)")
    ae = clone(patches_for).set_params(
        patch_encoder=make_pipeline(ZCAWhitener(eps=0.1), SparseAutoencoder(
            64, learning_rate=1e-2, max_iter=30, random_state=random_state)), step=2)
    reps["Sparse autoencoder"] = (FrozenEstimator(ae.fit(X_flat)), {})
    rows = _score(reps, X_flat[lab], y[lab], X_flat[~lab], y[~lab],
                  [n * n_classes for n in sizes], repeats, random_state, verbose)
    if output:
        atoms = reps["Sparse coding"][0].estimator.patch_encoder_[-1].components_
        _save_atoms(atoms, patch, output, "Patch dictionary (whitened space)")
    return format_table(title, sizes, rows), rows


def _save_atoms(components, shape, output, title):
    import matplotlib.pyplot as plt

    from ..plotting import plot_atoms

    fig = plot_atoms(components, shape, title=title)
    fig.savefig(output, dpi=120, bbox_inches="tight")
    plt.close(fig)
