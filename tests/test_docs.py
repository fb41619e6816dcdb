"""The docs' code runs: the getting-started page, and the example each user-guide page
opens with (before its first section, ahead of the implementation detail)."""

import re
import warnings
from pathlib import Path

import pytest
from sklearn.exceptions import ConvergenceWarning

DOC = Path(__file__).resolve().parents[1] / "doc"
PAGES = sorted((DOC / "user_guide").glob("*.rst"))


def _python_blocks(text):
    """(offset, code) of every ``.. code-block:: python`` block."""
    for match in re.finditer(r"^\.\. code-block:: python\n\n((?:    .*\n|\n)+)", text, re.M):
        code = "\n".join(line[4:] for line in match.group(1).splitlines())
        yield match.start(), code


def _first_section(text):
    """Offset of the first section title below the page title (or the end)."""
    titles = [m.start() for m in re.finditer(r"^\S.*\n[-~]{3,}\n", text, re.M)]
    return titles[0] if titles else len(text)


def _run(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short fits, on purpose
        exec(compile(code, "<doc>", "exec"), {"__name__": "__doc__"})


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.stem)
def test_user_guide_page_opens_with_an_example_that_runs(page, tmp_path, monkeypatch):
    text = page.read_text()
    blocks = list(_python_blocks(text))
    assert blocks, f"{page.name} has no python example"
    offset, code = blocks[0]
    body = text[text.index("\n=") + 1:]  # below the page title
    first_section = _first_section(body) + text.index("\n=") + 1
    assert offset < first_section, f"{page.name}: the example comes after a section"
    _run(code, tmp_path, monkeypatch)


def test_getting_started_code_runs(tmp_path, monkeypatch):
    text = (DOC / "getting_started.rst").read_text()
    blocks = [code for _, code in _python_blocks(text)]
    assert blocks
    for code in blocks:
        _run(code, tmp_path, monkeypatch)


def test_gpu_pipelines_page_runs_in_order(tmp_path, monkeypatch):
    # its later blocks (an autoencoder in the pipeline, moving a model) use the first's
    # names, so the page runs as one script
    text = (DOC / "user_guide" / "gpu_pipelines.rst").read_text()
    blocks = [code for _, code in _python_blocks(text)]
    assert len(blocks) >= 3
    _run("\n".join(blocks), tmp_path, monkeypatch)
