"""``python -m skl_sparse.experiments``: the experiments' command line."""

from ._cli import main

if __name__ == "__main__":
    main()
