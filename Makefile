# Each target sets up what it needs: a fresh clone only needs python3 (3.10+).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned to the CPU build: an unpinned install pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test lint bench doc clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test,doc]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m skl_sparse.experiments self-taught --output atoms.png

test: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m pytest -n 2 -q
	$(MAKE) doc

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test,bench]"
	$(PY) benchmarks/run_all.py

doc: $(VENV)/.installed
	$(PY) -m sphinx -W --keep-going -q -b html doc doc/_build/html

clean:
	rm -rf $(VENV) doc/_build doc/auto_examples doc/generated
