"""The package's layout: layers that import only downwards, no import cycle, one module that
reads the environment, a docstring for every subpackage (CONTRIBUTING.md has the map)."""

import ast
import pathlib

import pytest

import skl_sparse

ROOT = pathlib.Path(skl_sparse.__file__).parent

# Bottom to top. A module may import its own unit (module or subpackage) and the units of
# the layers below its own, nothing else: units of one layer are independent.
LAYERS = [
    ["_config", "_docstrings", "_progress"],
    ["_device", "_array_api"],
    ["_base", "_validation"],
    ["_solvers"],
    ["preprocessing", "sparse_coding", "datasets", "plotting"],
    ["neural_network", "gabor", "features", "decomposition"],
    ["nn"],
    ["experiments"],
    ["", "__main__"],  # the package's own __init__ and ``python -m skl_sparse``
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules():
    """{module name: path} of every module of the package."""
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


MODULES = _modules()


def _imports(name, path):
    """The package's modules that ``name`` imports, at module level or inside functions."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            submodules = {f"{base}.{a.name}" for a in node.names} & set(MODULES)
            found.update(submodules or {base})
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _unit(module):
    """The layer unit of a module: its top-level module or subpackage under skl_sparse."""
    return module.split(".")[1] if "." in module else ""


def test_every_module_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(LAYER), set(map(_unit, MODULES)) - set(LAYER)


def test_layers_import_only_downwards():
    wrong = sorted(
        f"{a} imports {b}"
        for a, targets in GRAPH.items() for b in targets
        if _unit(a) != _unit(b) and LAYER[_unit(b)] >= LAYER[_unit(a)]
    )
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle():
    state = {}  # module -> "open" while on the path, "done" after

    def visit(module, path):
        state[module] = "open"
        for target in sorted(GRAPH[module]):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_only_the_configuration_reads_the_environment():
    readers = set()
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
                readers.add(name)
    assert readers == {"skl_sparse._config"}


def test_every_subpackage_says_what_lives_there_and_what_it_imports():
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name != "skl_sparse":
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            assert len(doc.split()) >= 25 and "import" in doc, name


def test_the_checker_finds_upward_imports_and_cycles(tmp_path):
    """The checks above can fail: an upward import and a cycle are both seen."""
    assert "skl_sparse._config" in GRAPH["skl_sparse._device._threads"]
    assert LAYER[_unit("skl_sparse.experiments._cli")] > LAYER[_unit("skl_sparse.gabor")]
    fake = tmp_path / "m.py"
    fake.write_text("from ..experiments import self_taught\n\ndef f():\n    import os\n")
    assert _imports("skl_sparse._solvers.m", fake) == {"skl_sparse.experiments"}
