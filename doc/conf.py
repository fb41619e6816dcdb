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
autodoc_default_options = {}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/**/*.ipynb", "auto_examples/**/*.py",
                    "auto_examples/*.zip", "auto_examples/**/*.zip"]
html_theme = "pydata_sphinx_theme"
html_theme_options = {"navigation_with_keys": False}
html_static_path = ["_static"]
html_css_files = ["skl_sparse.css"]
templates_path = ["_templates"]
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
    # the timing tables would top the search results, and memory is not measured
    "write_computation_times": False,
    "show_memory": False,
}
os.environ.setdefault("SKL_SPARSE_EXAMPLE_PATCHES", "10000")
os.environ.setdefault("SKL_SPARSE_EXAMPLE_CHUNKS", "15")


def _public_methods(cls):
    """Public methods ``cls`` gets from skl_sparse's own classes (scikit-learn's are
    documented by scikit-learn, its metadata-routing setters included)."""
    import inspect

    for name, member in inspect.getmembers(cls, inspect.isfunction):
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if name.startswith("_") or (name.startswith("set_") and name.endswith("_request")):
            continue
        if owner is not None and owner.__module__.startswith("skl_sparse"):
            params = [p for p in inspect.signature(member).parameters
                      if p not in ("self", "y", "args", "kwargs")]
            yield name, params


def check_method_parameters(app, exception):
    """Fail the build when an estimator's page lacks one of its methods or one of their
    parameters (the class template renders each method's own docstring), or shows a
    backslash-underscore (``\\_`` in math)."""
    import html
    import inspect
    import re
    from pathlib import Path

    from sphinx.errors import ExtensionError

    import skl_sparse.decomposition

    if exception is not None or app.builder.name != "html":
        return
    missing = []
    for module in (skl_sparse, skl_sparse.decomposition):
        for name in module.__all__:
            cls = getattr(module, name)
            if not (inspect.isclass(cls) and hasattr(cls, "fit")):
                continue
            qualname = f"{module.__name__}.{name}"
            page = (Path(app.outdir) / "generated" / f"{qualname}.html").read_text()
            if "\\_" in page:  # an escaped underscore in math renders as a backslash
                missing.append(f"{name}: a literal backslash-underscore")
            for method, params in _public_methods(cls):
                start = page.find(f'id="{qualname}.{method}"')
                if start < 0:
                    missing.append(f"{name}.{method}")
                    continue
                end = page.find('<dt class="sig', start + 1)
                section = html.unescape(re.sub(r"<[^>]+>", " ", page[start:end]))
                missing += [f"{name}.{method}({p})" for p in params
                            if not re.search(rf"\b{p}\b", section)]
    if missing:
        raise ExtensionError(f"rendered API pages lack: {', '.join(missing)}")


def setup(app):
    app.connect("build-finished", check_method_parameters)
