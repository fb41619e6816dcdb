"""Figures: learned atoms, and the Gabor statistics of atoms.

The library's functions return data; the figures are drawn here."""

import numpy as np


def plot_atoms(components, patch_shape, *, n_cols=None, ax=None, title=None):
    """Show the atoms (rows of ``components``) as a grid of image patches.

    Each atom is scaled to its own symmetric grey range, so edges of either
    sign show up as black/white.

    Parameters
    ----------
    components : array-like of shape (n_atoms, height * width)
    patch_shape : tuple (height, width)
    n_cols : int, default=None
        Grid columns; ``ceil(sqrt(n_atoms))`` by default.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure otherwise.
    title : str, default=None

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skl_sparse.plotting import plot_atoms
    >>> fig = plot_atoms(np.random.RandomState(0).randn(16, 64), (8, 8))
    """
    import matplotlib.pyplot as plt

    components = np.asarray(components, dtype=np.float64)
    h, w = patch_shape
    if components.ndim != 2 or components.shape[1] != h * w:
        raise ValueError(
            f"components of shape {components.shape} do not hold patches of shape {patch_shape}."
        )
    n = components.shape[0]
    n_cols = n_cols or int(np.ceil(np.sqrt(n)))
    n_rows = int(np.ceil(n / n_cols))
    grid = np.full((n_rows * (h + 1) + 1, n_cols * (w + 1) + 1), np.nan)
    for i, atom in enumerate(components):
        r, c = divmod(i, n_cols)
        scale = np.abs(atom).max() or 1.0
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + c * (w + 1) : 1 + c * (w + 1) + w] = (
            atom.reshape(h, w) / scale
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(0.35 * n_cols + 1, 0.35 * n_rows + 1))
    else:
        fig = ax.figure
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_gabor_statistics(params, patch_shape, *, r2_min=0.8, fig=None):
    """Orientation, frequency and position statistics of well-fitted atoms.

    The comparison of the lecture: V1 simple cells cover all orientations and a range
    of spatial frequencies, with receptive fields spread over the visual field.

    Parameters
    ----------
    params : dict of ndarray
        From `fit_gabor_dictionary`.
    patch_shape : tuple of int
    r2_min : float, default=0.8
        Atoms with a lower R^2 are left out (their fraction is in the title).
    fig : matplotlib Figure or SubFigure, default=None

    Returns
    -------
    fig : matplotlib Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skl_sparse.plotting import plot_gabor_statistics
    >>> params = {"r2": np.array([0.9, 0.5]), "theta": np.array([0.3, 1.0]),
    ...           "frequency": np.array([0.2, 0.1]), "x0": np.array([4.0, 6.0]),
    ...           "y0": np.array([5.0, 2.0])}
    >>> fig = plot_gabor_statistics(params, (12, 12))
    """
    import matplotlib.pyplot as plt

    good = params["r2"] >= r2_min
    fig = fig or plt.figure(figsize=(12, 3.4))
    axes = fig.subplots(1, 4)
    axes[0].hist(params["r2"], bins=20, range=(0, 1), color="0.5")
    axes[0].axvline(r2_min, color="r")
    axes[0].set(title=f"R$^2$ ({good.mean():.0%} $\\geq$ {r2_min})", xlabel="R$^2$")
    axes[1].hist(np.degrees(params["theta"][good]), bins=12, range=(0, 180), color="C0")
    axes[1].set(title="orientation", xlabel="degrees")
    axes[2].hist(params["frequency"][good], bins=15, color="C1")
    axes[2].set(title="spatial frequency", xlabel="cycles / pixel")
    axes[3].scatter(params["x0"][good], params["y0"][good], s=8, c="C2")
    axes[3].set(title="envelope centres", xlim=(-0.5, patch_shape[1] - 0.5),
                ylim=(patch_shape[0] - 0.5, -0.5), aspect="equal")
    if hasattr(fig, "tight_layout"):  # not on a SubFigure: its parent lays it out
        fig.tight_layout()
    return fig
