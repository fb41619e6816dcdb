"""Sphinx configuration: numpydoc API pages, a user guide and a sphinx-gallery gallery.

Built offline with ``make doc`` (warnings are errors). Examples read
``SKL_SPARSE_EXAMPLE_PATCHES`` / ``SKL_SPARSE_EXAMPLE_CHUNKS`` to shrink their sizes.
"""

import os
import warnings

from sklearn.exceptions import ConvergenceWarning

import skl_sparse

# the gallery runs shortened fits on purpose: their ConvergenceWarnings are expected
warnings.filterwarnings("ignore", category=ConvergenceWarning)

project = "skl_sparse"
author = "skl_sparse developers"
copyright = "2026, skl_sparse developers"
release = version = skl_sparse.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/**/*.ipynb", "auto_examples/**/*.py",
                    "auto_examples/*.zip", "auto_examples/**/*.zip"]
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_with_keys": False}
html_static_path = ["_static"]
# MathJax 3.2.2 (Apache-2.0, from npm) ships in _static: the math renders without network
mathjax_path = "mathjax/tex-chtml.js"
intersphinx_mapping = {}  # offline build: no inventories fetched

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
    "abort_on_example_error": True,
}
os.environ.setdefault("SKL_SPARSE_EXAMPLE_PATCHES", "10000")
os.environ.setdefault("SKL_SPARSE_EXAMPLE_CHUNKS", "15")
