"""scikit-learn 1.9's own ``sklearn/decomposition/tests/test_dict_learning.py``, read from the
installed wheel and run against `skl_sparse.decomposition`: only its ``from
sklearn.decomposition import (...)`` is pointed at our module; nothing of it is copied here.

Its tests that reach into scikit-learn's private code are left out, with the reason:
"""

import pathlib
import re
import sys
import types

import pytest
import sklearn

SOURCE = pathlib.Path(sklearn.__file__).parent / "decomposition/tests/test_dict_learning.py"
IMPORT = re.compile(r"from sklearn\.decomposition import \(")

# test name -> why it does not test our module
PRIVATE = {
    "test_update_dict": "tests scikit-learn's private _update_dict, not an estimator or "
                        "function of the public API",
    "test_cd_work_on_joblib_memmapped_data": "patches scikit-learn's private "
                                             "sklearn.decomposition._dict_learning.Parallel",
}


def _load():
    """The test module, its public import pointed at skl_sparse.decomposition."""
    text = SOURCE.read_text()
    assert len(IMPORT.findall(text)) == 1, "the test file's import changed"
    text = IMPORT.sub("from skl_sparse.decomposition import (", text)
    module = types.ModuleType("sklearn_test_dict_learning_on_skl_sparse")
    module.__file__ = str(SOURCE)
    exec(compile(text, str(SOURCE), "exec"), module.__dict__)  # noqa: S102
    return module


MODULE = _load()
sys.modules[MODULE.__name__] = MODULE


def _cases():
    """(test function, parameters) of every test of the file, its marks applied."""
    for name, func in sorted(vars(MODULE).items()):
        if not name.startswith("test_") or not callable(func):
            continue
        marks = getattr(func, "pytestmark", [])
        grids = [m for m in marks if m.name == "parametrize"]
        skip = [pytest.mark.skip(reason=PRIVATE[name])] if name in PRIVATE else []
        combos = [{}]
        for grid in grids:
            names = [n.strip() for n in (grid.args[0].split(",") if isinstance(grid.args[0], str)
                                         else grid.args[0])]
            values = grid.args[1]
            combos = [{**c, **dict(zip(names, v if len(names) > 1 else (v,), strict=True))}
                      for c in combos for v in values]
        for params in combos:
            label = "-".join(f"{v.__name__ if hasattr(v, '__name__') else v}"
                             for v in params.values())
            yield pytest.param(func, params, id=name + (f"[{label}]" if label else ""),
                               marks=skip)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("test, params", list(_cases()))
def test_scikit_learn_suite(test, params, monkeypatch):
    if "monkeypatch" in test.__code__.co_varnames[: test.__code__.co_argcount]:
        params = {**params, "monkeypatch": monkeypatch}
    test(**params)
