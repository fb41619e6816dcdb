"""Figures of learned atoms."""

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
