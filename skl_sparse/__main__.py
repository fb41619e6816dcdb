"""``python -m skl_sparse``: the experiments' command line (``python -m skl_sparse.experiments``).

For example ``python -m skl_sparse self-taught`` (the README's demo) or
``python -m skl_sparse gabor`` (V1-like atoms of natural patches and their Gabor fits).
"""

from .experiments import main

if __name__ == "__main__":
    main()
