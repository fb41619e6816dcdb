"""Docstrings written once: pieces every estimator shares, put in place by `fill_doc`."""

# Docstring pieces every estimator shares, written once: a line holding only ``{name}``
# is replaced by the piece, indented like the placeholder (see `fill_doc`).
DOC_PIECES = {
    "fit_parameters": """\
Parameters
----------
X : array-like of shape (n_samples, n_features)
    Training data.
y : Ignored
    Not used, present for API consistency.""",
    "fit_returns": """\
Returns
-------
self : object
    The fitted estimator.""",
    "transform_parameters": """\
Parameters
----------
X : array-like of shape (n_samples, n_features)
    Data to transform.""",
    "inverse_transform_doc": """\
Parameters
----------
X : array-like of shape (n_samples, n_components)
    Codes.

Returns
-------
X_rec : ndarray of shape (n_samples, n_features)""",
    "score_doc": """\
Parameters
----------
X : array-like of shape (n_samples, n_features)
    Data to score.
y : Ignored
    Not used, present for API consistency.

Returns
-------
score : float""",
    "codes_returns": """\
Returns
-------
codes : ndarray of shape (n_samples, n_components)
    Same float dtype as ``X``.""",
    "lasso_parameters": """\
transform_max_iter : int, default=1000
    Iterations of the lasso solver.
transform_tol : float, default=1e-6
    Relative duality-gap tolerance of the lasso solver.
positive : bool, default=False
    Non-negative codes.""",
    "l0_parameters": """\
n_nonzero_coefs : int, default=None
    Atoms per code of the greedy solvers ("omp", "ols", "lar"); ``None``
    means 10% of ``n_features`` (at least 1). More than ``min(n_components,
    n_features)`` is clipped to it, with a warning.
residual_tol : float, default=None
    Squared norm of the residual at which "omp" and "ols" stop adding atoms;
    overrides ``n_nonzero_coefs`` when given.""",
    "split_sign_parameter": """\
split_sign : bool, default=False
    Return each code split into its positive and negative parts,
    ``[max(h, 0), max(-h, 0)]`` (``2 n_components`` features): downstream
    linear classifiers can then weigh the two signs differently.
    ``inverse_transform`` takes codes of either width.""",
    "online_attributes": """\
A_ : ndarray of shape (n_components, n_components)
    Running average of :math:`h h^\\top`.
B_ : ndarray of shape (n_components, n_features)
    Running average of :math:`h x^\\top`.
objective_ : ndarray of shape (`n_iter_`,)
    Mean objective of the mini-batches of each epoch (each ``partial_fit``).
n_iter_ : int
    Epochs run by ``fit`` (calls, for ``partial_fit``).
n_steps_ : int
    Mini-batches processed so far.""",
    "fitted_features": """\
n_features_in_ : int
    Number of features seen during fit.
feature_names_in_ : ndarray of shape (`n_features_in_`,)
    Names of features seen during fit, when they are all strings.""",
}


def _substitute(doc, pieces):
    """``doc`` with every line that holds only ``{name}`` of a piece replaced by the piece,
    its own placeholders filled first, indented like that line."""
    lines = []
    for line in doc.split("\n"):
        stripped = line.strip()
        name = stripped[1:-1] if stripped[:1] + stripped[-1:] == "{}" else None
        if name not in pieces:
            lines.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines += [indent + piece if piece else piece
                  for piece in _substitute(pieces[name], pieces).split("\n")]
    return "\n".join(lines)


def fill_doc(**pieces):
    """Decorator: put docstring pieces in place of lines that hold only ``{name}``.

    On a class it fills the class docstring and those of the methods it defines. The
    pieces are `DOC_PIECES` and ``pieces`` (which add or override); a piece may hold the
    placeholders of other pieces.
    """
    pieces = {**DOC_PIECES, **pieces}

    def decorate(obj):
        if obj.__doc__:
            obj.__doc__ = _substitute(obj.__doc__, pieces)
        for member in vars(obj).values() if isinstance(obj, type) else ():
            if callable(member) and getattr(member, "__doc__", None):
                member.__doc__ = _substitute(member.__doc__, pieces)
        return obj

    return decorate
